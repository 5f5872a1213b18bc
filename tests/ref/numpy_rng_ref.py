#!/usr/bin/python3
"""numpy_rng_ref.py -- NumPy's legacy random streams, for embrec's data_np_*.

Writes tests/ref/numpy_rng.txt, which tests/test_data.c loads (the C tests
never run Python). Run it by hand from the repository root when the fixture
must change:

    /usr/bin/python3 tests/ref/numpy_rng_ref.py > tests/ref/numpy_rng.txt

What the fixture pins down, all from numpy.random.RandomState (the legacy
generator every NumPy keeps bit-for-bit stable, and the one behind
np.random.seed / np.random.shuffle / pandas' random_state=SEED):

  raw       the first 32-bit outputs of RandomState(seed) (MT19937 seeded
            by init_genrand), read as randint(0, 2**32, dtype=uint64): with a
            range of exactly 2**32 legacy randint returns one raw output each
  perm      RandomState(seed).permutation(n): np.arange(n) shuffled by the
            legacy Fisher-Yates (for i = n-1 .. 1: j = random_interval(i),
            swap x[i], x[j])
  sample    the same permutation for a large n, as a checksum and every
            STEP-th value (the whole of it would make the fixture big)
  shuffles  E successive RandomState(seed).shuffle calls on ONE array that
            starts as np.arange(n): what Keras 2.1.6's fit(shuffle=True) does
            to its index_array at the start of every epoch, from the global
            state that np.random.seed(seed) sets

pandas' df.sample(frac=1, random_state=seed) is
RandomState(seed).choice(n, size=n, replace=False), which for the legacy
generator is permutation(n)[:n]; pandas is not needed to check that, and the
script asserts it with NumPy alone.
"""
import numpy as np

SEEDS = [0, 1, 42, 1234, 2**32 - 1]
LENGTHS = [1, 2, 3, 10, 33, 100]          # the full permutation is written
LARGE = [(7, 12000, 97), (2018, 100003, 991)]  # (seed, n, step): checksum + samples
SHUFFLES = [(3, 10, 4), (1, 50, 3)]       # (seed, n, epochs)
RAW = [(5489, 8), (0, 8), (42, 8)]        # 5489: MT19937's reference seed


def checksum(p):
    """sum over k of (k + 1) * p[k], modulo 2**64 (p as uint64)"""
    k = np.arange(1, len(p) + 1, dtype=np.uint64)
    return int(np.sum(k * p.astype(np.uint64), dtype=np.uint64))


def main():
    print("# tests/ref/numpy_rng.txt -- numpy.random.RandomState's legacy streams,")
    print("# written by /usr/bin/python3 tests/ref/numpy_rng_ref.py (NumPy %s)." % np.__version__)
    print("# Do not edit by hand; loaded by tests/test_data.c. Lines:")
    print("#   raw SEED COUNT v...        first 32-bit MT19937 outputs")
    print("#   perm SEED N v...           RandomState(SEED).permutation(N)")
    print("#   sample SEED N STEP SUM v...  permutation(N): sum (k+1) p[k] mod 2^64,")
    print("#                              then p[0], p[STEP], p[2 STEP], ...")
    print("#   shuffles SEED N E v...     E successive shuffles of one arange(N)")
    for seed, count in RAW:
        v = np.random.RandomState(seed).randint(0, 2**32, size=count, dtype=np.uint64)
        print("raw %d %d %s" % (seed, count, " ".join(str(int(x)) for x in v)))
    for seed in SEEDS:
        for n in LENGTHS:
            p = np.random.RandomState(seed).permutation(n)
            c = np.random.RandomState(seed).choice(n, size=n, replace=False)
            assert (p == c).all()  # df.sample(frac=1) is this permutation
            print("perm %d %d %s" % (seed, n, " ".join(str(int(x)) for x in p)))
    for seed, n, step in LARGE:
        p = np.random.RandomState(seed).permutation(n)
        print("sample %d %d %d %d %s" % (seed, n, step, checksum(p),
                                         " ".join(str(int(x)) for x in p[::step])))
    for seed, n, epochs in SHUFFLES:
        rs = np.random.RandomState(seed)
        index_array = np.arange(n)
        out = []
        for _ in range(epochs):
            rs.shuffle(index_array)
            out.extend(int(x) for x in index_array)
        print("shuffles %d %d %d %s" % (seed, n, epochs, " ".join(str(x) for x in out)))
    print("end")


if __name__ == "__main__":
    main()
