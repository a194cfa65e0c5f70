"""A small EU certificate verifier in Python (cryptography on OpenSSL, cbor2, base45, zlib), run
over the same EU test certificates (testdata/dcc in the repository) as the Rust benchmark
`eu_dcc`, to compare throughput.

It does the same stages as healthcode's verifier except the JSON Schema check (which the Rust
side does and this one skips, so the ratio favours Python): prefix, base45, zlib, COSE_Sign1
with hcert header rules, signature (ES256 r||s, PS256), exp/iat against the test clock, hcert
claim extraction.

    pip install -r requirements.txt
    python3 verify_dcc.py [DCC_DIR [seconds]]      # DCC_DIR: default the repository's testdata/dcc
"""

import json
import sys
import time
import zlib
from base64 import b64decode
from datetime import datetime, timezone
from pathlib import Path

# The repository's testdata/dcc, found from this file's own location (crates/healthcode-pass/
# benches/python/), whatever the working directory.
DEFAULT_DCC = Path(__file__).resolve().parents[4] / "testdata" / "dcc"

import base45
import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def parse_clock(text):
    t = text.strip().replace("z", "Z")
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    if len(t) >= 5 and t[-5] in "+-" and ":" not in t[-5:]:
        t = t[:-2] + ":" + t[-2:]
    if "." in t:  # Python parses at most 6 fraction digits
        head, rest = t.split(".", 1)
        digits = "".join(c for c in rest if c.isdigit())
        zone = rest[len(digits):]
        t = head + "." + digits[:6].ljust(6, "0") + zone
    d = datetime.fromisoformat(t)
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d.timestamp()


def verify(text, key, kid, clock):
    """Returns (signature valid, within iat..exp)."""
    if not text.startswith("HC1:"):
        return False, False
    cose = zlib.decompress(base45.b45decode(text[4:]))
    obj = cbor2.loads(cose)
    if isinstance(obj, cbor2.CBORTag):
        obj = obj.value
    protected_bytes, unprotected, payload, signature = obj
    protected = cbor2.loads(protected_bytes) if protected_bytes else {}
    alg = protected.get(1, unprotected.get(1))
    given_kid = protected[4] if 4 in protected else unprotected.get(4)
    if given_kid != kid:
        return False, False
    tbs = cbor2.dumps(["Signature1", protected_bytes, b"", payload])
    try:
        if alg == -7:
            n = len(signature) // 2
            der = encode_dss_signature(int.from_bytes(signature[:n], "big"), int.from_bytes(signature[n:], "big"))
            key.verify(der, tbs, ec.ECDSA(hashes.SHA256()))
        elif alg == -37:
            key.verify(signature, tbs, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32), hashes.SHA256())
        else:
            return False, False
    except InvalidSignature:
        return False, False
    claims = cbor2.loads(payload)
    hcert = claims[-260][1]
    return bool(hcert), claims[6] <= clock <= claims[4]


def load_inputs(root):
    inputs = []
    for path in sorted(Path(root).rglob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue
        expected = doc.get("EXPECTEDRESULTS") or {}
        ctx = doc.get("TESTCTX") or {}
        if expected.get("EXPECTEDVERIFY") is not True:
            continue
        if not all(k in doc for k in ("PREFIX",)) or "CERTIFICATE" not in ctx or "VALIDATIONCLOCK" not in ctx:
            continue
        try:
            der = b64decode(ctx["CERTIFICATE"])
            cert = x509.load_der_x509_certificate(der)
            key = cert.public_key()
            if not isinstance(key, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
                continue
            kid = cert.fingerprint(hashes.SHA256())[:8]
            clock = parse_clock(ctx["VALIDATIONCLOCK"])
            # Inputs whose signature verifies, whatever their expiry (as the Rust side selects).
            if verify(doc["PREFIX"], key, kid, clock)[0]:
                inputs.append((doc["PREFIX"], key, kid, clock))
        except Exception:  # noqa: BLE001 - a case Python cannot read is left out, as in Rust
            continue
    return inputs


def main():
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DCC
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    if not root.is_dir():
        sys.exit(f"no EU test data at {root} (the repository keeps it in testdata/dcc)")
    inputs = load_inputs(root)
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for text, key, kid, clock in inputs:
            verify(text, key, kid, clock)
        done += len(inputs)
    elapsed = time.perf_counter() - start
    print(json.dumps({"certificates": len(inputs), "verified": done, "seconds": round(elapsed, 3),
                      "per_second": round(done / elapsed)}))


if __name__ == "__main__":
    main()
