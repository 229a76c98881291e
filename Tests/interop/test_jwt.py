"""Issue 10: users from HS256 bearer tokens on the demo hub.

Tokens are built here (harness.jwt_token: HMAC-SHA256 over base64url JSON). The key comes from `--jwt-key` or
the `JWT_KEY` environment variable (at least 32 bytes); the token from `Authorization: Bearer` or the
`access_token` query parameter, on negotiate and on the WebSocket request (the WebSocket request's own token
wins; without one, the negotiate request's counts). The user id is `sub`, else `nameid`, else the long
`nameidentifier` claim. A missing or bad token (expired, not yet valid, wrong key, `alg: none`, ...) leaves
the connection anonymous: WhoAmI returns null. Tokens never appear in a replica's log.

One four-replica cluster serves the module: a has `--jwt-key KEY`, b has `JWT_KEY=OTHER` in its environment,
c has both (the flag wins), d has no key. Tests that need a token to be accepted are marked `awaits_jwt`.
"""
from __future__ import annotations

import subprocess
import time

import pytest

import harness
from clients import DEMO_KINDS, DemoSignalRCore, make_demo_client
from harness import JWT_KEY, Cluster, jwt_token, new_text
from wsraw import HubSocket, WebSocket, encode, http_request

OTHER_KEY = "another-interop-jwt-key-abcdefghijklmnop"
IDS = ["a", "b", "c", "d"]
NAMEID_URI = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"


@pytest.fixture(scope="module")
def jwt_cluster(module_cluster_factory):
    c = module_cluster_factory(IDS, start=False, name="jwt")
    c["a"].args += ["--jwt-key", JWT_KEY, "--log-level", "trace"]
    c["b"].env = {"JWT_KEY": OTHER_KEY}
    c["c"].args += ["--jwt-key", JWT_KEY]
    c["c"].env = {"JWT_KEY": OTHER_KEY}
    c.start()
    return c



def connect(made, cluster, node: str, kind: str, token: str | None = None, via: str = "header", **kw):
    """A demo-hub client of `kind` on `node`, sending `token` in the Authorization header (`via="header"`:
    signalrcore's access_token_factory, pysignalr's headers) or as `access_token` in the URL (`via="query"`)."""
    url = cluster.demo_hub(node)
    if token is not None and via == "query":
        url += f"?access_token={token}"
    elif token is not None:
        if kind == "signalrcore":
            kw["access_token_factory"] = lambda: token
        else:
            kw["headers"] = {"Authorization": f"Bearer {token}"}
    c = make_demo_client(kind, f"{kind}@{node}-{len(made)}", node, url, **kw)
    made.append(c)
    return c.wait_open(10)


def who(client):
    call = client.invoke("WhoAmI", [])
    assert call.error is None, call
    # The connection works either way.
    text = new_text("echo")
    assert client.call("Echo", text) == text
    return call.result


# ---------------------------------------------------------------------------------------- accepted tokens


@pytest.mark.awaits_jwt
@pytest.mark.parametrize("via", ["header", "query"])
@pytest.mark.parametrize("kind", DEMO_KINDS)
def test_valid_token_sets_the_user(jwt_cluster, made, kind, via):
    user = f"user-{kind}-{via}"
    c = connect(made, jwt_cluster, "a", kind, jwt_token({"sub": user}), via)
    assert who(c) == user


@pytest.mark.awaits_jwt
def test_bearer_scheme_is_case_insensitive(jwt_cluster, made):
    """RFC 7235: the auth scheme is case-insensitive."""
    for scheme in ("bearer", "BEARER"):
        token = jwt_token({"sub": f"scheme-{scheme}"})
        c = make_demo_client("pysignalr", scheme, "a", jwt_cluster.demo_hub("a"),
                             headers={"Authorization": f"{scheme} {token}"})
        made.append(c)
        assert who(c.wait_open(10)) == f"scheme-{scheme}"


@pytest.mark.awaits_jwt
@pytest.mark.parametrize("via", ["header", "query"])
def test_token_on_a_websocket_without_negotiation(jwt_cluster, made, via):
    """signalrcore with skip_negotiation: the WebSocket request is the only one that carries the token."""
    url = jwt_cluster.demo_hub("a")
    token = jwt_token({"sub": f"skip-{via}"})
    kw = {"access_token_factory": lambda: token} if via == "header" else {}
    if via == "query":
        url += f"?access_token={token}"
    c = DemoSignalRCore(f"skipneg-{via}", "a", url, skip_negotiation=True, **kw).start()
    made.append(c)
    c.wait_open(10)
    assert who(c) == f"skip-{via}"


def raw_connect(port: int, negotiate_headers: dict | None = None, ws_query: str = "",
                ws_headers: dict | None = None) -> HubSocket:
    """Negotiate (with `negotiate_headers`), then the WebSocket (with `ws_query` appended and `ws_headers`):
    the two requests carry different tokens, which no stock client does."""
    r = http_request(port, "POST", "/demoHub/negotiate", headers=negotiate_headers)
    assert r.status == 200, r
    ws = WebSocket.connect(port, f"/demoHub?id={r.json()['connectionId']}{ws_query}", headers=ws_headers)
    hs = HubSocket(ws)
    ws.send_text(encode({"protocol": "json", "version": 1}))
    assert hs.recv_raw(5.0) == {}
    return hs


def raw_who(hs: HubSocket):
    hs.invoke("WhoAmI", [], "who")
    m = hs.recv_until(lambda m: m.get("type") == 3 and m.get("invocationId") == "who")
    assert "error" not in m, m
    return m.get("result")


@pytest.mark.awaits_jwt
def test_negotiate_token_counts_unless_the_websocket_brings_its_own(jwt_cluster):
    port = jwt_cluster.port("a")
    alice, bob = jwt_token({"sub": "alice"}), jwt_token({"sub": "bob"})
    cases = [
        ("negotiate header only", {"Authorization": f"Bearer {alice}"}, "", None, "alice"),
        ("websocket query only", None, f"&access_token={alice}", None, "alice"),
        ("websocket header only", None, "", {"Authorization": f"Bearer {alice}"}, "alice"),
        ("websocket token wins", {"Authorization": f"Bearer {alice}"}, f"&access_token={bob}", None, "bob"),
        ("neither", None, "", None, None),
    ]
    for what, neg, query, ws_headers, want in cases:
        hs = raw_connect(port, neg, query, ws_headers)
        try:
            assert raw_who(hs) == want, what
        finally:
            hs.close()


@pytest.mark.awaits_jwt
def test_user_id_claims(jwt_cluster, made):
    cases = [
        ({"nameid": "n-short"}, "n-short"),
        ({NAMEID_URI: "n-long"}, "n-long"),
        ({"sub": "the-sub", "nameid": "not-this", NAMEID_URI: "nor-this"}, "the-sub"),
        ({"sub": "ünï ✓", "name": "ignored"}, "ünï ✓"),
        ({"sub": "with-nbf", "nbf": int(time.time()) - 60}, "with-nbf"),
    ]
    for i, (claims, want) in enumerate(cases):
        kind = DEMO_KINDS[i % 2]
        c = connect(made, jwt_cluster, "a", kind, jwt_token(claims))
        assert who(c) == want, claims


@pytest.mark.awaits_jwt
def test_key_from_env_and_flag_precedence(jwt_cluster, made):
    """b: JWT_KEY only. c: --jwt-key and JWT_KEY (the flag wins). d: no key, so no token counts."""
    mine, other = jwt_token({"sub": "flag-user"}), jwt_token({"sub": "env-user"}, key=OTHER_KEY)
    assert who(connect(made, jwt_cluster, "b", "pysignalr", other)) == "env-user"
    assert who(connect(made, jwt_cluster, "b", "signalrcore", mine)) is None
    assert who(connect(made, jwt_cluster, "c", "pysignalr", mine)) == "flag-user"
    assert who(connect(made, jwt_cluster, "c", "signalrcore", other)) is None


def test_no_key_means_every_connection_is_anonymous(jwt_cluster, made):
    for kind in DEMO_KINDS:
        assert who(connect(made, jwt_cluster, "d", kind, jwt_token({"sub": "nokey"}))) is None
        assert who(connect(made, jwt_cluster, "d", kind, jwt_token({"sub": "nokey"}), via="query")) is None


# ---------------------------------------------------------------------------------------- rejected tokens


def tampered() -> str:
    head, _, sig = jwt_token({"sub": "mallory-original"}).split(".")
    body = jwt_token({"sub": "mallory"}).split(".")[1]
    return f"{head}.{body}.{sig}"


def none_with_valid_signature() -> str:
    """`alg: none`, but signed with the real key anyway: the header says unsigned, so it must not count."""
    import hashlib
    import hmac

    unsigned = jwt_token({"sub": "mallory"}, header={"alg": "none", "typ": "JWT"}, sign=False)
    signing_input = unsigned[:-1]
    sig = hmac.new(JWT_KEY.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + harness.b64url(sig)


BAD_TOKENS = {
    "expired": lambda: jwt_token({"sub": "mallory", "exp": int(time.time()) - 3600}),
    "not yet valid": lambda: jwt_token({"sub": "mallory", "nbf": int(time.time()) + 3600}),
    "wrong key": lambda: jwt_token({"sub": "mallory"}, key=OTHER_KEY),
    "alg none": lambda: jwt_token({"sub": "mallory"}, header={"alg": "none", "typ": "JWT"}, sign=False),
    "alg none, signed": none_with_valid_signature,
    "alg HS384 header": lambda: jwt_token({"sub": "mallory"}, header={"alg": "HS384", "typ": "JWT"}),
    "tampered payload": tampered,
    "two segments": lambda: ".".join(jwt_token({"sub": "mallory"}).split(".")[:2]),
    "not base64": lambda: "%%%.@@@.###",
    "garbage": lambda: "garbage",
    "payload not an object": lambda: ".".join(
        [jwt_token({}).split(".")[0], harness.b64url(b'"mallory"'), "x"]),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_bad_token_leaves_the_connection_anonymous(jwt_cluster, made, case):
    token = BAD_TOKENS[case]()
    for kind, via in (("pysignalr", "header"), ("signalrcore", "query")):
        c = connect(made, jwt_cluster, "a", kind, token, via)
        assert who(c) is None, f"{case} via {via}: the connection got a user"


# ------------------------------------------------------------------------------------------------ keys


def run_server(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([str(harness.SERVER_BIN), *args], capture_output=True, text=True, timeout=10,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})


def peers_file(name: str) -> str:
    import json

    doc = {"cluster": "t", "secret": harness.SECRET, "replicas": [
        {"id": "a", "http": f"127.0.0.1:{harness.free_port()}", "mesh": f"127.0.0.1:{harness.free_port()}"}]}
    path = harness.log_dir() / f"jwt-{name}-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(doc))
    return str(path)


def assert_refused(p: subprocess.CompletedProcess, secret: str):
    errors = [line for line in p.stderr.splitlines() if line.startswith("error: ")]
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert len(errors) == 1 and len([x for x in p.stderr.splitlines() if x.strip()]) == 1, p.stderr
    assert "32" in errors[0], errors[0]
    assert secret not in p.stderr and secret not in p.stdout, "the refused key was echoed"
    assert p.stdout.strip() == "", p.stdout


def test_too_short_key_is_refused_with_one_line():
    peers = peers_file("short")
    for key in ("short-secret-key", "k" * 31, "€" * 10):          # 16, 31 and 30 bytes
        assert_refused(run_server(["--node", "a", "--peers", peers, "--jwt-key", key]), key)
        assert_refused(run_server(["--node", "a", "--peers", peers], env={"JWT_KEY": key}), key)
    p = run_server(["--node", "a", "--peers", peers, "--jwt-key"])
    assert p.returncode == 2 and p.stderr.startswith("error: "), p


@pytest.mark.parametrize("key", ["k" * 32, "€" * 11])                   # 32 bytes; 11 characters, 33 bytes
@pytest.mark.parametrize("source", ["flag", "env"])
def test_long_enough_key_is_accepted(module_cluster_factory, key, source):
    c = module_cluster_factory(["a"], start=False, name=f"jwt-key-{source}")
    if source == "flag":
        c["a"].args += ["--jwt-key", key]
    else:
        c["a"].env = {"JWT_KEY": key}
    c.start()
    assert c["a"].alive()
    c["a"].terminate()


# ------------------------------------------------------------------------------------------------ logs


def server_lines(path) -> list[str]:
    """What the replica wrote (the harness's own `===== start <command line>` lines left out)."""
    text = open(path, "rb").read().decode(errors="replace")
    return [line for line in text.splitlines() if not line.startswith("===== start ")]


def test_tokens_never_appear_in_the_log(module_cluster_factory, made):
    """A fresh replica (so no log line is held back by the rate limit) logging at trace level gets good and bad
    tokens by header, query and skip-negotiation, and requests whose path it does log (a refused Origin, a
    refused Host) with a token in the query and the header. Neither a token nor its payload or signature part,
    nor the key, shows up in anything the replica wrote."""
    cluster = module_cluster_factory(["a"], args=["--jwt-key", JWT_KEY, "--log-level", "trace"], name="jwt-log")
    port = cluster.port("a")
    tokens = [jwt_token({"sub": f"logged-{i}"}) for i in range(4)]
    tokens += [BAD_TOKENS[k]() for k in ("expired", "wrong key", "tampered payload", "alg none", "garbage")]
    for i, token in enumerate(tokens):
        kind = DEMO_KINDS[i % 2]
        for via in ("header", "query"):
            c = connect(made, cluster, "a", kind, token, via)
            who(c)
            # signalrcore copies its HTTP headers (the token too) into every invocation's headers.
            assert c.invoke("Add", ["x", 1]).error
            assert c.invoke("NoSuchMethod", []).error
    skip = DemoSignalRCore("skip-log", "a", cluster.demo_hub("a") + f"?access_token={tokens[0]}",
                           skip_negotiation=True).start()
    made.append(skip)
    who(skip.wait_open(10))
    for token in (tokens[1], tokens[5]):
        auth = {"Authorization": f"Bearer {token}"}
        r = http_request(port, "POST", f"/demoHub/negotiate?access_token={token}", headers=auth)
        assert r.status == 200, r
        r = http_request(port, "POST", f"/demoHub/negotiate?access_token={token}",
                         headers={**auth, "Origin": "http://evil.example"})
        assert r.status == 403, r
        r = http_request(port, "POST", f"/demoHub/negotiate?access_token={token}",
                         headers={**auth, "Host": "evil.example"})
        assert r.status == 403, r
    for c in made:
        c.stop()
    lines = server_lines(cluster["a"].log_path)
    assert any("/demoHub/negotiate" in line and "evil.example" in line for line in lines), \
        "no refused-request line with the path was logged: nothing to check\n" + "\n".join(lines[-20:])
    needles = {"key": JWT_KEY}
    for i, token in enumerate(tokens):
        parts = token.split(".")
        needles[f"token {i}"] = token
        if len(parts) > 1 and len(parts[1]) >= 12:
            needles[f"token {i} payload"] = parts[1]
        if len(parts) > 2 and len(parts[2]) >= 12:
            needles[f"token {i} signature"] = parts[2]
    for line in lines:
        for what, needle in needles.items():
            assert needle not in line, f"{what} in the replica's log: {line[:300]}"
