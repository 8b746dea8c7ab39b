"""The CPU's instruction-set class and whether it has bf16 and int8 instructions, read from the flags that
py-cpuinfo reports (machine_info.cpu.flags of a results file). Imports no torch: the report reads them too.

A brand string such as "Intel(R) Xeon(R) Processor" does not tell an AMX machine from an AVX2 one, and bf16 on a
CPU without bf16 instructions runs emulated, at a fraction of fp32's speed: the class goes into the environment
fingerprint, and the report says where a bf16 or int8 row ran without the matching instructions.
"""

from __future__ import annotations

# Highest first: a CPU's class is the first whose flags it has any of (cpuinfo spells some flags two ways).
ISA_CLASSES = [
    ("AMX", {"amx_tile", "amx_bf16", "amx_int8"}),
    ("AVX512_BF16", {"avx512_bf16"}),
    ("AVX-512", {"avx512f"}),
    ("AVX2", {"avx2"}),
]
# The instructions that run a precision's matrix work in hardware (oneDNN's bf16 and int8 kernels use them).
HARDWARE_FLAGS = {
    "bf16": {"avx512_bf16", "amx_bf16"},
    "int8": {"avx512_vnni", "avx512vnni", "avx_vnni", "amx_int8"},
}


def cpu_flags(cpu: dict | None) -> set[str]:
    """The lower-case flags of a py-cpuinfo dict (empty when it has none)."""
    flags = (cpu or {}).get("flags") or []
    return {str(f).lower() for f in flags} if isinstance(flags, list) else set()


def isa_class(cpu: dict | None) -> str:
    """The CPU's instruction-set class from a py-cpuinfo dict: the highest of AMX > AVX512_BF16 > AVX-512 > AVX2
    whose flags it has (AMX: amx_tile/amx_bf16/amx_int8; AVX512_BF16: avx512_bf16; AVX-512: avx512f; AVX2: avx2).
    A CPU with none of them is named by its architecture ("x86 below AVX2", "ARM_8"), and "unknown" when the dict
    has neither flags nor an architecture."""
    flags = cpu_flags(cpu)
    for name, needed in ISA_CLASSES:
        if flags & needed:
            return name
    arch = str((cpu or {}).get("arch") or "")
    if arch.upper().startswith("X86"):
        return "x86 below AVX2"
    return arch or ("unknown" if not flags else "other")


def lacks_hardware(precision: str, cpu: dict | None) -> bool:
    """Whether a CPU whose flags are known lacks the instructions of a precision of HARDWARE_FLAGS ("bf16", "int8");
    False for other precisions and for a CPU whose flags were not recorded (nothing is known then)."""
    flags = cpu_flags(cpu)
    return precision in HARDWARE_FLAGS and bool(flags) and not flags & HARDWARE_FLAGS[precision]
