"""Seeds for http_request_fuzz: the hostile cases of the metrics endpoint, each as one
connection's bytes after an option byte (see http_request_fuzz.cpp: bits 0-2 the read
size, bit 3 stopping, bits 4-6 the probes and /metrics failing).
Usage: http_request_fuzz_seeds.py OUT_DIR"""
import pathlib
import random
import sys

out = pathlib.Path(sys.argv[1])
LIMIT = 1024  # max_request_bytes in the fuzzer


def get(path, extra=b"", method=b"GET", version=b"HTTP/1.1"):
    return method + b" " + path + b" " + version + b"\r\nHost: x\r\n" + extra + b"\r\n"


cases = {
    "metrics": get(b"/metrics"),
    "healthz": get(b"/healthz"),
    "readyz": get(b"/readyz?verbose=1"),
    "head": get(b"/metrics", method=b"HEAD"),
    "not_found": get(b"/nope"),
    "post_body": get(b"/metrics", b"Content-Length: 5\r\n", b"POST") + b"hello",
    "http10": get(b"/metrics", version=b"HTTP/1.0"),
    "http10_keepalive": get(b"/healthz", b"Connection: keep-alive\r\n", version=b"HTTP/1.0"),
    "close": get(b"/healthz", b"Connection: close\r\n") + get(b"/metrics"),
    # Pipelined: several requests in one write, answered in order.
    "pipelined": get(b"/metrics") + get(b"/healthz", method=b"HEAD") + get(b"/readyz") * 3,
    "pipelined_body": get(b"/x", b"Content-Length: 3\r\n", b"PUT") + b"abc" + get(b"/metrics"),
    # Oversized: a header over the limit (431), a body over it (413), a long URL.
    "huge_header": get(b"/metrics", b"X-Pad: " + b"a" * 2000 + b"\r\n"),
    "many_headers": get(b"/metrics", b"".join(b"X-%d: v\r\n" % i for i in range(300))),
    "huge_body": get(b"/metrics", b"Content-Length: 5000\r\n", b"POST") + b"b" * 200,
    "huge_url": get(b"/" + b"u" * 3000),
    # A 1,030-byte header: a long request line, then fields ending just past the limit
    # within one 100-byte read (the limit is on the whole header, not on each part).
    "header_just_over": get(b"/metrics?" + b"q" * 700, b"X-Pad: " + b"a" * 286 + b"\r\n"),
    "just_under": get(b"/metrics", b"X-Pad: " + b"a" * (LIMIT - 80) + b"\r\n"),
    # Chunked bodies: well-formed, an oversized chunk, a chunk extension, a trailer.
    "chunked": get(b"/metrics", b"Transfer-Encoding: chunked\r\n", b"POST")
    + b"5\r\nhello\r\n0\r\n\r\n" + get(b"/healthz"),
    "chunked_huge": get(b"/metrics", b"Transfer-Encoding: chunked\r\n", b"POST")
    + b"FFFFFFFF\r\n" + b"c" * 100,
    "chunk_ext": get(b"/metrics", b"Transfer-Encoding: chunked\r\n", b"POST")
    + b"3;name=" + b"e" * 1500 + b"\r\nabc\r\n0\r\n\r\n",
    "chunk_trailer": get(b"/m", b"Transfer-Encoding: chunked\r\n", b"POST")
    + b"1\r\nx\r\n0\r\nX-Trailer: t\r\n\r\n",
    # Ambiguous framing (request smuggling shapes) and bad numbers.
    "cl_and_te": get(b"/metrics", b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", b"POST")
    + b"0\r\n\r\n",
    "two_cl": get(b"/metrics", b"Content-Length: 1\r\nContent-Length: 2\r\n", b"POST") + b"ab",
    "negative_cl": get(b"/metrics", b"Content-Length: -1\r\n", b"POST"),
    "overflow_cl": get(b"/metrics", b"Content-Length: 99999999999999999999999\r\n", b"POST"),
    "expect_continue": get(b"/metrics", b"Expect: 100-continue\r\nContent-Length: 2\r\n", b"POST")
    + b"ok",
    # Partial requests: the stream ends (or stalls) before the request does.
    "partial_line": b"GET /metr",
    "partial_header": b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: b",
    "partial_body": get(b"/metrics", b"Content-Length: 100\r\n", b"POST") + b"only some",
    # Malformed: bad version, bad header, LF-only lines, obs-fold, NUL, a response.
    "bad_version": b"GET /metrics HTTP/9\r\n\r\n",
    "no_target": b"GET  HTTP/1.1\r\n\r\n",
    "bad_header": b"GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n",
    "lf_only": b"GET /metrics HTTP/1.1\nHost: x\n\n",
    "obs_fold": b"GET /metrics HTTP/1.1\r\nX-A: a\r\n  folded\r\n\r\n",
    "nul": b"GET /metrics\x00 HTTP/1.1\r\n\r\n",
    "response": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "tls_hello": bytes.fromhex("160301020001000200030300") + bytes(range(256)),
    "unknown_method": get(b"/metrics", method=b"BREW"),
    "empty_lines": b"\r\n\r\n" + get(b"/metrics"),
}
rng = random.Random(20261121)
cases["garbage"] = bytes(rng.randrange(256) for _ in range(600))
cases["garbage_after_request"] = get(b"/healthz") + bytes(rng.randrange(256) for _ in range(300))

# Each case arrives at once (option 7), byte by byte (0), in small reads (2, 5); some
# with the server stopping (8), a failing /healthz (16), /readyz passing (32) or
# /metrics throwing (64).
for name, body in cases.items():
    for option in (7, 0, 5):
        (out / f"{name}_{option}").write_bytes(bytes([option]) + body)
for name in ("metrics", "healthz", "readyz", "pipelined"):
    for option in (7 | 8, 7 | 16, 7 | 32, 7 | 64, 2 | 16 | 32 | 64):
        (out / f"{name}_{option}").write_bytes(bytes([option]) + cases[name])
