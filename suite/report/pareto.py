"""The Pareto front: the points that no other point beats on both coordinates."""

from __future__ import annotations


def pareto_front(costs: list[float], gains: list[float]) -> list[int]:
    """Indices (ascending) of the non-dominated points, when lower cost and higher gain are better.

    A point is dominated when another costs no more and gains no less, and is strictly better in
    one of the two. Sorted by cost, a point is on the front when it gains more than every cheaper
    point; points of equal cost compete among themselves first; identical points share a fate.
    """
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -gains[i]))
    front, best = [], float("-inf")
    position = 0
    while position < len(order):
        same_cost = [i for i in order[position:] if costs[i] == costs[order[position]]]
        top = gains[same_cost[0]]  # the highest gain at this cost (sorted by -gain)
        if top > best:
            front += [i for i in same_cost if gains[i] == top]
            best = top
        position += len(same_cost)
    return sorted(front)
