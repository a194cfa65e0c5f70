"""Seeds fuzz/corpus/decode from the repository's test data (testdata/dcc and testdata/cose):
scanned texts (mode 0), COSE messages (modes 1 and 2) and QR PNGs (mode 4). Run from anywhere:
python3 seed_corpus.py [TESTDATA_DIR]     # default: the repository's testdata/"""
import base64, hashlib, json, pathlib, sys

here = pathlib.Path(__file__).resolve().parent  # crates/healthcode-pass/fuzz
root = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else here.parents[2] / "testdata"
for sub in ("dcc", "cose"):
    if not (root / sub).is_dir():
        sys.exit(f"no test data at {root / sub} (the repository keeps it in testdata/)")
out = here / "corpus" / "decode"
out.mkdir(parents=True, exist_ok=True)

def put(data):
    (out / hashlib.sha1(data).hexdigest()).write_bytes(data)

pngs = 0
for path in sorted((root / "dcc").rglob("*.json")):
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        continue
    if isinstance(doc.get("PREFIX"), str):
        put(b"\x00" + doc["PREFIX"].encode())
    if isinstance(doc.get("COSE"), str):
        try:
            put(b"\x02" + bytes.fromhex(doc["COSE"]))
            put(b"\x01" + bytes.fromhex(doc["COSE"]))
        except ValueError:
            pass
    if isinstance(doc.get("2DCODE"), str) and pngs < 8:
        try:
            put(b"\x04" + base64.b64decode(doc["2DCODE"]))
            pngs += 1
        except ValueError:
            pass
for path in sorted((root / "cose").rglob("*.json")):
    doc = json.loads(path.read_text())
    cbor = doc.get("output", {}).get("cbor")
    if cbor:
        put(b"\x01" + bytes.fromhex(cbor))
print(len(list(out.iterdir())), "corpus files")
