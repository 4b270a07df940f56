#!/usr/bin/env python3
"""A loopback stand-in for AWS KMS's asymmetric operations, in front of moto_server.

It STANDS IN FOR AWS KMS in sealbox's tests and interop scripts: moto serves KMS but not
DeriveSharedSecret, Encapsulate or Decapsulate, and its Decrypt does not decrypt with real RSA
keys. This proxy holds real asymmetric keys of its own and answers, with real cryptography:

* CreateKey with an asymmetric KeySpec (RSA_2048/3072/4096 for ENCRYPT_DECRYPT, ECC_NIST_P256/
  P384/P521 for KEY_AGREEMENT, ML_KEM_512/768/1024 for ENCAPSULATE_DECAPSULATE): moto creates a
  symmetric key for the ARN and the bookkeeping, the proxy makes the key pair and answers with the
  asymmetric metadata;
* GetPublicKey of those keys (DER SubjectPublicKeyInfo, as KMS returns it);
* Decrypt with RSAES_OAEP_SHA_1 / RSAES_OAEP_SHA_256 under an RSA key;
* DeriveSharedSecret (ECDH) under an ECC key;
* Encapsulate and Decapsulate (ML_KEM) under an ML-KEM key;

and forwards every other request, byte for byte, to moto. RSA and ECDH come from `cryptography`;
ML-KEM from `kyber-py` (FIPS 203 in Python; `cryptography` has no ML-KEM-512), which also makes
it an implementation independent of the aws-lc one that sealbox encapsulates with.

It listens on 127.0.0.1 only and prints `listening on http://127.0.0.1:PORT` as its first line.
The keys live in memory and die with the process.

Usage: kms_standin.py UPSTREAM_URL [--port N]
"""

import argparse
import base64
import json
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from kyber_py.ml_kem import ML_KEM_512, ML_KEM_768, ML_KEM_1024

RSA_SPECS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
ECC_SPECS = {
    "ECC_NIST_P256": ec.SECP256R1,
    "ECC_NIST_P384": ec.SECP384R1,
    "ECC_NIST_P521": ec.SECP521R1,
}
ML_KEM_SPECS = {"ML_KEM_512": ML_KEM_512, "ML_KEM_768": ML_KEM_768, "ML_KEM_1024": ML_KEM_1024}
# DER SubjectPublicKeyInfo of an ML-KEM key: a fixed prefix (the NIST OID 2.16.840.1.101.3.4.4.N
# and the BIT STRING header) and the raw encapsulation key.
ML_KEM_SPKI_PREFIX = {
    "ML_KEM_512": bytes.fromhex("30820332300b06096086480165030404010382032100"),
    "ML_KEM_768": bytes.fromhex("308204b2300b0609608648016503040402038204a100"),
    "ML_KEM_1024": bytes.fromhex("30820632300b06096086480165030404030382062100"),
}
OAEP = {"RSAES_OAEP_SHA_1": hashes.SHA1, "RSAES_OAEP_SHA_256": hashes.SHA256}


class KmsError(Exception):
    def __init__(self, code, message, status=400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class Keys:
    """The asymmetric keys this proxy holds, by key ID and by ARN."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_id = {}

    def add(self, key_id, entry):
        with self.lock:
            self.by_id[key_id] = entry

    def find(self, key_id):
        if not key_id:
            return None
        with self.lock:
            if key_id in self.by_id:
                return self.by_id[key_id]
            for entry in self.by_id.values():
                if entry["arn"] == key_id:
                    return entry
        return None


KEYS = Keys()
UPSTREAM = ""


def b64(data):
    return base64.b64encode(data).decode()


def unb64(body, field):
    value = body.get(field)
    if not isinstance(value, str):
        raise KmsError("ValidationException", f"{field} is required")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as e:
        raise KmsError("ValidationException", f"{field} is not base64: {e}") from e


def public_der(entry):
    spec = entry["spec"]
    if spec in ML_KEM_SPECS:
        return ML_KEM_SPKI_PREFIX[spec] + entry["ek"]
    return entry["private"].public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def algorithms(entry):
    spec = entry["spec"]
    if spec in RSA_SPECS:
        return {"EncryptionAlgorithms": list(OAEP)}
    if spec in ECC_SPECS:
        return {"KeyAgreementAlgorithms": ["ECDH"]}
    return {"EncapsulationAlgorithms": ["ML_KEM"]}


def require(entry, usage, op):
    if entry["usage"] != usage:
        raise KmsError(
            "InvalidKeyUsageException",
            f"{op}: key {entry['arn']} has key usage {entry['usage']}, not {usage}",
        )


def create_key(body, headers):
    spec = body.get("KeySpec") or body.get("CustomerMasterKeySpec")
    if spec in RSA_SPECS:
        usage, entry = "ENCRYPT_DECRYPT", {
            "private": rsa.generate_private_key(public_exponent=65537, key_size=RSA_SPECS[spec])
        }
    elif spec in ECC_SPECS:
        usage, entry = "KEY_AGREEMENT", {"private": ec.generate_private_key(ECC_SPECS[spec]())}
    elif spec in ML_KEM_SPECS:
        ek, dk = ML_KEM_SPECS[spec].keygen()
        usage, entry = "ENCAPSULATE_DECAPSULATE", {"ek": ek, "dk": dk}
    else:
        return None  # symmetric and everything else: moto's
    if body.get("KeyUsage", usage) != usage:
        raise KmsError(
            "ValidationException", f"this stand-in makes {spec} keys for {usage} only"
        )
    upstream_body = {k: v for k, v in body.items() if k not in ("KeySpec", "CustomerMasterKeySpec", "KeyUsage")}
    status, _, raw = send(upstream_request("POST", "/", headers, json.dumps(upstream_body).encode()))
    if status != 200:
        raise KmsError("DependencyTimeoutException", f"moto CreateKey failed: {raw!r}", 500)
    meta = json.loads(raw)["KeyMetadata"]
    entry.update(spec=spec, usage=usage, arn=meta["Arn"])
    KEYS.add(meta["KeyId"], entry)
    meta.update(KeySpec=spec, CustomerMasterKeySpec=spec, KeyUsage=usage)
    meta.pop("EncryptionAlgorithms", None)
    meta.update(algorithms(entry))
    return {"KeyMetadata": meta}


def get_public_key(entry, body):
    return {
        "KeyId": entry["arn"],
        "PublicKey": b64(public_der(entry)),
        "KeySpec": entry["spec"],
        "CustomerMasterKeySpec": entry["spec"],
        "KeyUsage": entry["usage"],
        **algorithms(entry),
    }


def decrypt(entry, body):
    require(entry, "ENCRYPT_DECRYPT", "Decrypt")
    algorithm = body.get("EncryptionAlgorithm")
    if algorithm not in OAEP:
        raise KmsError(
            "InvalidKeyUsageException",
            f"Decrypt with an RSA key needs EncryptionAlgorithm RSAES_OAEP_SHA_1 or "
            f"RSAES_OAEP_SHA_256, not {algorithm!r}",
        )
    ciphertext = unb64(body, "CiphertextBlob")
    hash_ = OAEP[algorithm]()
    try:
        plaintext = entry["private"].decrypt(
            ciphertext, padding.OAEP(mgf=padding.MGF1(algorithm=hash_), algorithm=hash_, label=None)
        )
    except ValueError as e:
        raise KmsError("InvalidCiphertextException", "") from e
    return {"KeyId": entry["arn"], "Plaintext": b64(plaintext), "EncryptionAlgorithm": algorithm}


def derive_shared_secret(entry, body):
    require(entry, "KEY_AGREEMENT", "DeriveSharedSecret")
    if body.get("KeyAgreementAlgorithm") != "ECDH":
        raise KmsError("ValidationException", "KeyAgreementAlgorithm must be ECDH")
    der = unb64(body, "PublicKey")
    try:
        peer = serialization.load_der_public_key(der)
    except ValueError as e:
        raise KmsError("ValidationException", f"PublicKey is not a DER SubjectPublicKeyInfo: {e}") from e
    if not isinstance(peer, ec.EllipticCurvePublicKey) or peer.curve.name != entry["private"].curve.name:
        raise KmsError("ValidationException", f"PublicKey is not on the curve of {entry['spec']}")
    secret = entry["private"].exchange(ec.ECDH(), peer)
    return {
        "KeyId": entry["arn"],
        "SharedSecret": b64(secret),
        "KeyAgreementAlgorithm": "ECDH",
        "KeyOrigin": "AWS_KMS",
    }


def encapsulate(entry, body):
    require(entry, "ENCAPSULATE_DECAPSULATE", "Encapsulate")
    if body.get("EncapsulationAlgorithm") != "ML_KEM":
        raise KmsError("ValidationException", "EncapsulationAlgorithm must be ML_KEM")
    secret, ciphertext = ML_KEM_SPECS[entry["spec"]].encaps(entry["ek"])
    return {
        "KeyId": entry["arn"],
        "SharedSecret": b64(secret),
        "SharedSecretCiphertextBlob": b64(ciphertext),
        "EncapsulationAlgorithm": "ML_KEM",
    }


def decapsulate(entry, body):
    require(entry, "ENCAPSULATE_DECAPSULATE", "Decapsulate")
    if body.get("EncapsulationAlgorithm") != "ML_KEM":
        raise KmsError("ValidationException", "EncapsulationAlgorithm must be ML_KEM")
    ciphertext = unb64(body, "SharedSecretCiphertextBlob")
    kem = ML_KEM_SPECS[entry["spec"]]
    try:
        secret = kem.decaps(entry["dk"], ciphertext)
    except ValueError as e:
        # Wrong length (FIPS 203's input check); a well-formed but wrong ciphertext decapsulates
        # to an unrelated secret (implicit rejection), as it does in KMS.
        raise KmsError("InvalidCiphertextException", str(e)) from e
    return {"KeyId": entry["arn"], "SharedSecret": b64(secret), "EncapsulationAlgorithm": "ML_KEM"}


HANDLERS = {
    "TrentService.GetPublicKey": get_public_key,
    "TrentService.Decrypt": decrypt,
    "TrentService.DeriveSharedSecret": derive_shared_secret,
    "TrentService.Encapsulate": encapsulate,
    "TrentService.Decapsulate": decapsulate,
}
# Operations moto cannot serve at all: an unknown key is an error here, never a forward.
OURS_ONLY = {"TrentService.DeriveSharedSecret", "TrentService.Encapsulate", "TrentService.Decapsulate"}


def upstream_request(method, path, headers, raw):
    """The request to moto: the client's own headers (moto reads the region and the account from
    its Authorization header, and checks no signature) with `raw` as the body."""
    keep = {k: v for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")}
    return urllib.request.Request(UPSTREAM + path, data=raw or None, headers=keep, method=method)


def send(request):
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, list(response.headers.items()), response.read()
    except urllib.error.HTTPError as e:
        return e.code, list(e.headers.items()), e.read()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the tests print what matters
        pass

    def do_GET(self):
        self.forward(b"")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        target = self.headers.get("X-Amz-Target", "")
        try:
            answer = self.answer(target, raw)
        except KmsError as e:
            self.reply(e.status, {"__type": e.code, "message": e.message})
            return
        except Exception as e:  # a bug here: say so to the client rather than drop the connection
            self.reply(500, {"__type": "KMSInternalException", "message": f"stand-in: {e!r}"})
            return
        if answer is None:
            self.forward(raw)
        else:
            self.reply(200, answer)

    def answer(self, target, raw):
        if not target.startswith("TrentService."):
            return None
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return None
        if target == "TrentService.CreateKey":
            return create_key(body, self.headers)
        handler = HANDLERS.get(target)
        if handler is None:
            return None
        entry = KEYS.find(body.get("KeyId"))
        if entry is None:
            if target in OURS_ONLY:
                raise KmsError(
                    "NotFoundException",
                    f"{target.split('.')[1]}: {body.get('KeyId')!r} is not an asymmetric key of this stand-in",
                )
            return None
        return handler(entry, body)

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def forward(self, raw):
        status, response_headers, data = send(upstream_request(self.command, self.path, self.headers, raw))
        self.send_response(status)
        for k, v in response_headers:
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    global UPSTREAM
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("upstream", help="moto_server's endpoint, http://127.0.0.1:PORT")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if not args.upstream.startswith("http://127.0.0.1:"):
        sys.exit("the upstream must be a loopback moto_server (http://127.0.0.1:PORT)")
    UPSTREAM = args.upstream.rstrip("/")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
