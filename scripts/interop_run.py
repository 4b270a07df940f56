"""What the interop drivers scripts/interop_ecdh.py and scripts/interop_kms_keyrings.py share: a
run of named checks that reports every failure and stops at none, and the check that a
decryption is refused."""

from __future__ import annotations

import sys
import traceback
from collections import Counter


class Run:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.by = Counter()

    def check(self, name, tally, fn):
        try:
            fn()
        except Exception as e:  # noqa: BLE001: every failure is reported, none stops the run
            self.failed += 1
            print(f"FAIL {name}: {e}")
            traceback.print_exc(limit=1, file=sys.stdout)
            return
        self.passed += 1
        self.by[tally] += 1
        print(f"ok   {name}")


def expect_failure(fn):
    try:
        fn()
    except Exception:  # noqa: BLE001: any refusal will do; a success is the failure
        return
    raise AssertionError("decrypted a message that was not for this key")
