#!/usr/bin/env python3
"""Writes the seed corpus, fuzz/corpus/<target>/, from the project's own samples.

Run from anywhere: `python3 fuzz/make_corpus.py`. It rewrites the seed folders (not the
working corpus under fuzz/work/). Seeds come from rules/samples/*.json (the small ones),
rules/default/ (ruleset.toml, tests/, tests/facts/), tests/data/ and the bodies of
tests/events.rs and the unit tests; each is at most 100 KB. Needs the `lz4` and `zstd`
command-line tools for the stored_body seeds (real LZ4 blocks and zstd frames).
"""

import base64
import hashlib
import hmac
import json
import pathlib
import shutil
import struct
import subprocess

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
CAP = 100 * 1000


def read(rel):
    return (ROOT / rel).read_bytes()


SAMPLES = {
    name: read(f"rules/samples/{name}.json")
    for name in [
        "broken",
        "drybulk-single-cargo",
        "mpp-tauranga",
        "multiport-grain",
        "tanker-via-canal",
    ]
}
PORTCONNECT_DOC = read("tests/data/portconnect-doc-example.json")
TAURANGA_FACTS = read("rules/default/tests/facts/tauranga.json")
# tests/events.rs `delivery`: an Octopi delivery's body.
OCTOPI_DELIVERY = json.dumps(
    {
        "id": "0193a2b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b",
        "event_type": "Cargo Held",
        "occurred_at": "2026-11-20T14:05:00-05:00",
        "category": "unit",
        "payload": {
            "container": {"number": "APZU 345678-9", "status": "full", "usage": "export"},
            "terminal": {"id": 7, "name": "Garden City", "locode": "USSAV"},
            "voyage": {"vessel": {"name": "Kota Loceng", "imo_number": 9628336}},
            "hold": {"type": "customs", "reason": "exam"},
        },
    },
    separators=(",", ":"),
).encode()
# src/cli/facts.rs tests: a hold_applied delivery as Octopi sends it.
OCTOPI_HOLD = b"""{"id": "06d22aa5-2563-4b28-91d6-4e9398dd7f5a", "event_type": "hold_applied",
    "occurred_at": "2026-11-20T09:15:00.000+13:00",
    "payload": {"container": {"number": "TCLU 765432-1"}, "hold": {"type": "customs"}}}"""
# src/signature.rs tests.
SIGNED_BODY = b'{"estimateID":"EST-1","vesselCode":"ANNA"}'
# src/store/redact.rs tests.
REDACT_BODY = b'{"z":1, "token" : "s3cret","cargoes":[{"ref":"a","key":"k1"},{"key":"k2"}],"n":{"x":"y"}}'


def write(target, name, data):
    assert len(data) <= CAP, (target, name, len(data))
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def digest(key, body):
    return hmac.new(key.encode(), body, hashlib.sha256).digest()


def signature():
    new, old = "new-key-abcdefghij", "old-key-0123456789"
    # 13 control bytes: keys (0 none, 1 one, 2 two), signer, form, prefix, padding x2,
    # flip bit (2), body byte (2), body xor, header position, header character.
    def ctrl(keys, form, prefix):
        return bytes([keys, 1, form, prefix, 1, 0, 7, 0, 5, 0, 0x20, 10, ord("A")])

    d = digest(new, SIGNED_BODY)
    write("signature", "hex-one-key", ctrl(1, 0, 0) + new.encode() + b"\n" + d.hex().encode() + b"\n\n" + SIGNED_BODY)
    body = SAMPLES["drybulk-single-cargo"]
    d = digest(new, body)
    header = b"sha256=" + base64.b64encode(d)
    write("signature", "base64-prefix-two-keys", ctrl(2, 2, 1) + f"{old}\t{new}".encode() + b"\n" + header + b"\n\n" + body)
    body = SAMPLES["tanker-via-canal"]
    d = digest(old, body)
    header = b" " + base64.urlsafe_b64encode(d).rstrip(b"=") + b" "
    write("signature", "url-safe-unpadded-old-key", ctrl(2, 5, 0) + f"{old}\t{new}".encode() + b"\n" + header + b"\n\n" + body)
    d = digest(new, SIGNED_BODY)
    write("signature", "repeated-header", ctrl(1, 1, 2) + new.encode() + b"\n" + d.hex().upper().encode() + b"\nbad\n\n" + SIGNED_BODY)
    write("signature", "no-keys", ctrl(0, 0, 0) + b"\n\n" + SIGNED_BODY)


def estimate():
    for name, text in SAMPLES.items():
        write("estimate", f"{name}.json", text)
    # src/rules/json.rs tests: the edge cases sonic-rs and serde_json must agree on.
    write(
        "estimate",
        "edge-cases.json",
        b'{"big": 18446744073709551615, "neg": -9223372036854775808, "f": 1.5e-7, '
        b'"esc": "a\\"b\\\\c\\u00e9\\ud83d\\ude00", "nested": [[], {}, [{"x": null}]]}',
    )


def portconnect():
    at = struct.pack("<q", 1_795_633_500_000_000)
    token = b"pc-token-current-0123456789\n"
    write("portconnect", "doc-example", at + token + PORTCONNECT_DOC)
    items = json.loads(PORTCONNECT_DOC)
    pascal = [{k[:1].upper() + k[1:]: v for k, v in item.items()} for item in items]
    write("portconnect", "pascal-case", at + token + json.dumps(pascal).encode())
    vessel = [i for i in json.loads(TAURANGA_FACTS) if any(k.lower() == "vesselscheduleeventtypecode" for k in i)]
    write("portconnect", "vessel-schedule", at + b"pc-token-previous\n" + json.dumps(vessel).encode())
    items[2]["containerVisitEventDatetime"] = "19/06/2019 12:41"
    write("portconnect", "bad-item", at + b"wrong-token\n" + json.dumps(items).encode())


def octopi():
    # 6 control bytes: settings (signed % 3, encoding / 3 % 3, 0x80 tolerance),
    # sign with (0 no, 1 current, 2 older secret), flip bit, body byte (2), body xor.
    def seed(name, settings, sign_with, event, delivery, timestamp, signature, port, body):
        lines = b"".join(x.encode() + b"\n" for x in [event, delivery, timestamp, signature, port])
        write("octopi", name, bytes([settings, sign_with, 9, 3, 0, 1]) + lines + body)

    seed("signed-body-now", 0x80, 1, "Cargo Held", "0193a2b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b", "@now", "", "", OCTOPI_DELIVERY)
    seed("timestamp-dot-body-base64", 0x80 | 1 | 6, 2, "cargo_held", "0193a2b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b", "@now-ms", "", "USSAV", OCTOPI_DELIVERY)
    seed("hold-applied-unsigned", 2, 0, "HoldApplied", "06d22aa5-2563-4b28-91d6-4e9398dd7f5a", "2026-11-20T09:15:00+13:00",
         "sha256=" + "0" * 64, "NZAKL", OCTOPI_HOLD)


def stored_body():
    body = SAMPLES["drybulk-single-cargo"]
    # A real LZ4 block (from the lz4 tool's frame), with the decoded length before it.
    frame = subprocess.run(["lz4", "-c", "-BD", "--no-frame-crc", "-"], input=body, capture_output=True, check=True).stdout
    assert frame[:4] == b"\x04\x22\x4d\x18"
    size = struct.unpack("<I", frame[7:11])[0]
    assert not size & 0x80000000, "the block is compressed"
    block = frame[11 : 11 + size]
    lz4 = struct.pack("<I", len(body)) + block
    zstd = subprocess.run(["zstd", "-c", "-1", "-"], input=body, capture_output=True, check=True).stdout
    split = lambda n: struct.pack("<H", n)
    write("stored_body", "lz4-block", b"\x00" + split(0) + lz4)
    write("stored_body", "zstd-frame", b"\x00" + split(0) + zstd)

    def varint(n):
        out = b""
        while n >= 0x80:
            out += bytes([n & 0x7F | 0x80])
            n >>= 7
        return out + bytes([n])

    base = SAMPLES["broken"]
    whole = b"\x01" + b"".join(varint(n) for n in [len(base), len(base), 0, 0, len(base), 0])
    write("stored_body", "delta-whole-base", b"\x00" + split(len(base)) + base + whole)
    write("stored_body", "row-zstd", b"\x01\x15\x0a" + zstd)
    write("stored_body", "round-trip", b"\x02" + split(0) + SAMPLES["tanker-via-canal"])
    edited = body.replace(b"58000", b"58100", 1).replace(b"2026-", b"2027-")
    write("stored_body", "diff-edited-estimate", b"\x03" + split(len(body)) + body + edited)


def redact():
    write("redact", "token-and-wildcard", b"/token\n/cargoes/*/key\n/absent\n\n" + REDACT_BODY)
    write("redact", "estimate-pointers", b"/vesselCode\n/estimateCargoes/*/cargoQty\n/estimateItineraries/0\n\n" + SAMPLES["drybulk-single-cargo"])
    write("redact", "escaped-tokens", b"/a~1b\n/m~0n/*\n\n" + b'{"a/b": "x", "m~n": [1, {"k": 2}], "a": {"b": 3}}')


def ruleset_toml():
    write("ruleset_toml", "default.toml", read("rules/default/ruleset.toml"))
    write(
        "ruleset_toml",
        "keys-and-redaction.toml",
        b'description = "Tankers"\napi_keys = ["env:LOOKOUT_KEY_TANKER", "env:LOOKOUT_KEY_TANKER_OLD"]\n'
        b'identity = ["/estimateID", "/estimate_id"]\nredact_headers = ["X-Imos-Api-Token"]\n'
        b'redact_body = ["/counterparty/apiToken", "/cargoes/*/token"]\nbudget_ms = 8000\nmargin_ms = 1000\n'
        b"show_rule_errors = false\n",
    )
    write("ruleset_toml", "typos.toml", b'api_key = ["env:K"]\nbudgt_ms = 9000\n[limits]\nx = 1\n')
    write("ruleset_toml", "bad-type.toml", b'description = "x"\nbudget_ms = "fast"\n')


def test_file():
    tests = ROOT / "rules/default/tests"
    for name in ["cargo-over-deadweight", "port-schedule-brought-forward", "container-hold-terminal-and-customs", "laytime-terms-missing"]:
        write("test_file", f"{name}.json", (tests / f"{name}.json").read_bytes())
    # The same test with its estimate inline, so `set` is applied to it.
    test = json.loads((tests / "cargo-over-deadweight.json").read_bytes())
    test["estimate"] = json.loads(SAMPLES["drybulk-single-cargo"])
    test["remove"] = ["/estimateCargoes/0/cargoName"]
    write("test_file", "inline-estimate.json", json.dumps(test, indent=1).encode())


def facts_file():
    write("facts_file", "tauranga.json", TAURANGA_FACTS)
    write("facts_file", "portconnect-doc-example.json", PORTCONNECT_DOC)
    # As /admin/api/events answers (src/cli/facts.rs tests), with a raw delivery.
    stored = {
        "id": "0193a2b4-0000-7000-8000-000000000001",
        "received_at": 1_763_600_000_000_000,
        "source": "portconnect",
        "kind": "container",
        "event": "GATEIN",
        "known": True,
        "at": "2019-06-19T12:41:02+12:00",
        "occurred_at": 1_560_904_862_000_000,
        "containers": ["APHU6303593"],
        "vessels": [{"imo": 9628336, "name": "KOTA LOCENG", "role": "outbound"}],
        "ports": ["NZAKL"],
        "dedupe": "portconnect:abc",
        "payload": '{"containerNumber": "APHU6303593"}',
    }
    page = {"events": [stored, json.loads(OCTOPI_HOLD)], "next": None, "searched_to": 5}
    write("facts_file", "admin-api-page.json", json.dumps(page).encode())


if __name__ == "__main__":
    for target in ["signature", "estimate", "portconnect", "octopi", "stored_body", "redact", "ruleset_toml", "test_file", "facts_file"]:
        shutil.rmtree(CORPUS / target, ignore_errors=True)
        globals()[target]()
    for folder in sorted(CORPUS.iterdir()):
        files = list(folder.iterdir())
        print(f"{folder.name}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes")
