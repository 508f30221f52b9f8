#!/usr/bin/env python3
"""Reference values for tests/harness/recurrence_test.cc, computed independently of Boost.Math.

Clopper-Pearson bounds: bisection (200 steps, 60-digit decimals) on the binomial tails written out as
sums, P(X >= x | n, L) = alpha/2 for the lower bound and P(X <= x | n, U) = alpha/2 for the upper one.
Fisher's one-sided p-value: the hypergeometric upper tail as an exact fraction of binomial coefficients.
The clean runs to conclude: the p-value recomputed exactly for 0, 1, 2, ... more clean runs.
Run it with python3; it prints the C++ table rows the test holds.
"""
from decimal import Decimal, getcontext
from fractions import Fraction
from math import comb

getcontext().prec = 60


def binom_cdf(k, n, p):  # P(X <= k)
    return sum(Decimal(comb(n, i)) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def bisect(f, target, increasing):
    lo, hi = Decimal(0), Decimal(1)
    for _ in range(200):
        mid = (lo + hi) / 2
        if (f(mid) < target) == increasing:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def clopper_pearson(x, n, confidence=Decimal("0.95")):
    a = (1 - confidence) / 2
    lower = Decimal(0) if x == 0 else bisect(lambda p: 1 - binom_cdf(x - 1, n, p), a, True)
    upper = Decimal(1) if x == n else bisect(lambda p: binom_cdf(x, n, p), a, False)
    return lower, upper


def fisher_lower_since(a, rb, c, rs):
    hits, runs = a + c, rb + rs
    if a == 0 or rb == 0 or rs == 0:
        return Fraction(1)
    total = comb(runs, rb)
    tail = sum(comb(hits, x) * comb(runs - hits, rb - x) for x in range(a, min(hits, rb) + 1))
    return Fraction(tail, total)


def clean_runs_to_conclude(a, rb, rs, alpha=Fraction(1, 20)):
    m = 0
    while fisher_lower_since(a, rb, 0, rs + m) >= alpha:
        m += 1
    return m


for x, n in [(7, 388), (0, 412), (1, 10), (10, 10), (0, 10), (50, 100), (3, 1000), (2, 100000)]:
    lo, hi = clopper_pearson(x, n)
    print(f"{{{{{x}, {n}}}, {float(lo):.12e}, {float(hi):.12e}}},")
for a, rb, c, rs in [(7, 388, 0, 412), (7, 388, 1, 412), (3, 50, 0, 20), (1, 10, 0, 10), (5, 100000, 0, 200000), (20, 40, 20, 40)]:
    print(f"{{{{{a}, {rb}}}, {{{c}, {rs}}}, {float(fisher_lower_since(a, rb, c, rs)):.12e}}},")
for a, rb, rs in [(7, 388, 0), (7, 388, 100), (3, 50, 20), (1, 10, 5)]:
    print(f"{{{{{a}, {rb}}}, {rs}, {clean_runs_to_conclude(a, rb, rs)}}},")
