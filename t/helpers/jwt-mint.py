#!/usr/bin/python3
# Keys and tokens for the auth tests, with Debian's python3-jwt and python3-cryptography (a
# second implementation: tokens gatewayd did not mint itself).
#
#   jwt-mint.py keys DIR      writes DIR/{rsa,ec,ed}.pem (private), DIR/jwks.json (their public
#                             JWKs, kids "rsa", "ec", "ed"), DIR/hs.secret (48 random bytes) and
#                             DIR/rsa.pub.pem
#   jwt-mint.py mint DIR      reads one JSON object per line on stdin:
#                               {"alg": "RS256", "kid": "rsa", "claims": {...}, "key": "rsa"|"ec"|
#                                "ed"|"hs"|"rsa-pub-as-hmac"|"other-ec", "headers": {...}}
#                             and prints one token per line; "alg": "none" makes an unsigned one.
import base64
import json
import os
import sys

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm


def pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


_loaded = {}


def load(path):
    # Once per key: cryptography checks an RSA key as it loads it (~20 ms), and a bench pool
    # mints thousands of tokens with one key.
    if path not in _loaded:
        with open(path, "rb") as f:
            _loaded[path] = serialization.load_pem_private_key(f.read(), password=None)
    return _loaded[path]


def keys(d):
    os.makedirs(d, exist_ok=True)
    made = {"rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec": ec.generate_private_key(ec.SECP256R1()),
            "ed": ed25519.Ed25519PrivateKey.generate(),
            "other-ec": ec.generate_private_key(ec.SECP256R1())}
    for name, k in made.items():
        with open(os.path.join(d, name + ".pem"), "wb") as f:
            f.write(pem(k))
    jwks = []
    for name, alg in (("rsa", RSAAlgorithm), ("ec", ECAlgorithm), ("ed", OKPAlgorithm)):
        j = json.loads(alg.to_jwk(made[name].public_key()))
        j["kid"] = name
        jwks.append(j)
    with open(os.path.join(d, "jwks.json"), "w") as f:
        json.dump({"keys": jwks}, f)
    with open(os.path.join(d, "rsa.pub.pem"), "wb") as f:
        f.write(made["rsa"].public_key().public_bytes(serialization.Encoding.PEM,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo))
    with open(os.path.join(d, "hs.secret"), "wb") as f:
        f.write(base64.b64encode(os.urandom(36)))  # 48 printable bytes


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(d):
    for line in sys.stdin:
        if not line.strip():
            continue
        spec = json.loads(line)
        alg, claims = spec["alg"], spec.get("claims", {})
        headers = dict(spec.get("headers", {}))
        if "kid" in spec:
            headers["kid"] = spec["kid"]
        if alg == "none":
            h = dict(headers, alg="none", typ="JWT")
            print(b64u(json.dumps(h).encode()) + "." + b64u(json.dumps(claims).encode()) + ".")
            continue
        which = spec.get("key", "hs" if alg.startswith("HS") else "rsa")
        if which == "hs":
            with open(os.path.join(d, "hs.secret"), "rb") as f:
                key = f.read()
        elif which == "rsa-pub-as-hmac":
            # The classic confusion: the RSA public key's PEM as an HMAC secret. PyJWT refuses to
            # do it, so the token is made by hand.
            import hashlib, hmac
            with open(os.path.join(d, "rsa.pub.pem"), "rb") as f:
                secret = f.read()
            h = dict(headers, alg=alg, typ="JWT")
            signing = b64u(json.dumps(h).encode()) + "." + b64u(json.dumps(claims).encode())
            mac = hmac.new(secret, signing.encode(), hashlib.sha256).digest()
            print(signing + "." + b64u(mac))
            continue
        else:
            key = load(os.path.join(d, which + ".pem"))
        print(jwt.encode(claims, key, algorithm=alg, headers=headers or None))
    sys.stdout.flush()


if __name__ == "__main__":
    {"keys": keys, "mint": mint}[sys.argv[1]](sys.argv[2])
