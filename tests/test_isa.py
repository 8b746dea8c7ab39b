"""The CPU's instruction-set class: read from cpuinfo's flags, and part of the run's and the node's fingerprint."""

from __future__ import annotations

import pytest

from suite.results.isa import isa_class, lacks_hardware

BRAND = "Intel(R) Xeon(R) Processor"  # a brand that does not tell the machines apart
AVX2 = {"brand_raw": BRAND, "arch": "X86_64", "flags": ["avx", "avx2", "fma", "sse4_2"]}
AMX = {**AVX2, "flags": AVX2["flags"] + ["avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16",
                                         "amx_int8"]}


@pytest.mark.parametrize("cpu, expected", [
    (AVX2, "AVX2"),
    ({**AVX2, "flags": AVX2["flags"] + ["avx512f", "avx512bw"]}, "AVX-512"),
    ({**AVX2, "flags": AVX2["flags"] + ["avx512f", "avx512_bf16"]}, "AVX512_BF16"),
    (AMX, "AMX"),
    ({**AVX2, "flags": ["sse4_2"]}, "x86 below AVX2"),
    ({"arch": "ARM_8", "flags": ["asimd", "fp"]}, "ARM_8"),
    ({"brand_raw": "test cpu"}, "unknown"),
])
def test_the_class_is_the_highest_present(cpu, expected):
    assert isa_class(cpu) == expected


def test_bf16_and_int8_lack_hardware_only_where_the_flags_say_so():
    assert lacks_hardware("bf16", AVX2) and lacks_hardware("int8", AVX2)
    assert not lacks_hardware("bf16", AMX) and not lacks_hardware("int8", AMX)
    vnni_only = {"flags": ["avx2", "avx_vnni"]}
    assert lacks_hardware("bf16", vnni_only) and not lacks_hardware("int8", vnni_only)
    assert not lacks_hardware("fp32", AVX2)  # fp32 needs nothing special
    assert not lacks_hardware("bf16", {"brand_raw": BRAND})  # flags not recorded: nothing known, nothing claimed


def test_run_fingerprint_tells_an_amx_machine_from_an_avx2_one_of_the_same_brand(monkeypatch):
    from suite.measure import environment as environment_module
    from suite.measure.environment import environment

    # no matmul ceilings measured
    monkeypatch.setattr(environment_module, "environment_ceilings", lambda fingerprint: {})
    avx2, amx = environment(AVX2), environment(AMX)
    assert (avx2["cpu_isa"], amx["cpu_isa"]) == ("AVX2", "AMX")
    assert avx2["fingerprint"] != amx["fingerprint"] and environment(dict(AVX2))["fingerprint"] == avx2["fingerprint"]


def test_node_fingerprint_tells_an_amx_machine_from_an_avx2_one_of_the_same_brand(monkeypatch):
    import cpuinfo

    from suite.executors import node
    from suite.measure import devices

    fingerprints = []
    for cpu in (AVX2, AMX):
        monkeypatch.setattr(cpuinfo, "get_cpu_info", lambda cpu=cpu: cpu)
        monkeypatch.setattr(devices, "_CPU_INFO", {})
        node._fixed_parts.cache_clear()
        fingerprints.append(node.node_identity(1)["fingerprint"])
    node._fixed_parts.cache_clear()  # the next caller reads this machine again
    assert fingerprints[0] != fingerprints[1]
