"""Checks deploy/Dockerfile without a Docker engine (none runs on the
development or CI machines): what `docker build` would need from the build
context and the package list is there.

  check_dockerfile.py SOURCE_DIR [SLUICE_BINARY]

- every COPY source from the build context exists and is not excluded by
  .dockerignore; `COPY . .` does not take build trees, .git or node_modules;
- every COPY --from names a stage; FROM cuda-${SLUICE_CUDA} has a stage for
  each value the build argument may take;
- every script a RUN calls was copied into that stage before it, exists and
  is executable, and every package group it installs exists;
- every package of every group exists in Debian 12 (apt-cache), when apt is here;
- the runtime group covers every shared library SLUICE_BINARY loads (except the
  CUDA toolkit's, which the image copies from the build stage).
Exit 0 when all hold; otherwise every failure is printed and the exit is 1.
"""
import fnmatch
import os
import re
import shutil
import subprocess
import sys

root = os.path.abspath(sys.argv[1])
binary = sys.argv[2] if len(sys.argv) > 2 else None
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg)


def instructions(path):
    """(line number, keyword, argument text) with continuations joined."""
    out, buf, start = [], "", 0
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        s = line.rstrip("\n")
        if not buf and (not s.strip() or s.lstrip().startswith("#")):
            continue
        if not buf:
            start = n
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        kw, _, rest = buf.strip().partition(" ")
        out.append((start, kw.upper(), rest.strip()))
        buf = ""
    return out


def dockerignore_patterns():
    path = os.path.join(root, ".dockerignore")
    if not os.path.exists(path):
        fail(".dockerignore is missing: `COPY . .` would take build trees, .git and node_modules")
        return []
    pats = []
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if line and not line.startswith("#"):
            pats.append(line.rstrip("/"))
    return pats


def ignored(rel, pats):
    """Docker's rule: a path is excluded when it or one of its parents matches."""
    parts = rel.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        for p in pats:
            neg = p.startswith("!")
            if neg:
                continue
            if p.startswith("**/"):
                if fnmatch.fnmatch(parts[i - 1], p[3:]) or fnmatch.fnmatch(prefix, p[3:]):
                    return True
            elif fnmatch.fnmatch(prefix, p):
                return True
    return False


dockerfile = os.path.join(root, "deploy", "Dockerfile")
ins = instructions(dockerfile)
pats = dockerignore_patterns()
for must in (".git", "build", "build/release", "tools/node_modules", "bench/results/x.log"):
    if not ignored(must, pats):
        fail(f".dockerignore does not exclude {must}")
for must_keep in ("app/main.cpp", "CMakeLists.txt", "models", "pipelines", "scripts/lib/common.sh"):
    if ignored(must_keep, pats):
        fail(f".dockerignore excludes {must_keep}, which the image needs")

args = {}
stages = []          # names, in order
stage_copied = []    # per stage: destination paths copied so far
workdir = "/"
for n, kw, rest in ins:
    if kw == "ARG":
        name, _, default = rest.partition("=")
        args.setdefault(name.strip(), default.strip())
    elif kw == "FROM":
        m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
        image, name = m.group(1), m.group(2)
        ref = re.search(r"\$\{(\w+)\}", image)
        if ref and not image.startswith("${"):
            # A stage picked by a build argument, e.g. cuda-${SLUICE_CUDA}.
            var = ref.group(1)
            for value in ("ON", "OFF"):
                target = image.replace("${" + var + "}", value)
                if target not in stages:
                    fail(f"Dockerfile:{n}: FROM {image} with {var}={value}: no stage {target}")
        stages.append(name or f"#{len(stages)}")
        stage_copied.append([])
        workdir = "/"
    elif kw == "WORKDIR":
        workdir = rest
    elif kw == "COPY":
        words = rest.split()
        flags = [w for w in words if w.startswith("--")]
        paths = [w for w in words if not w.startswith("--")]
        srcs, dest = paths[:-1], paths[-1]
        frm = [f.split("=", 1)[1] for f in flags if f.startswith("--from=")]
        if frm:
            if frm[0] not in stages and "/" not in frm[0] and ":" not in frm[0]:
                fail(f"Dockerfile:{n}: COPY --from={frm[0]}: no such stage")
        else:
            for s in srcs:
                rel = os.path.normpath(s).lstrip("./") if s != "." else "."
                if rel != "." and not os.path.exists(os.path.join(root, rel)):
                    fail(f"Dockerfile:{n}: COPY source {s} does not exist in the build context")
                elif rel != "." and ignored(rel, pats):
                    fail(f"Dockerfile:{n}: COPY source {s} is excluded by .dockerignore")
                target = dest if dest.startswith("/") else os.path.join(workdir, dest)
                if s == ".":
                    stage_copied[-1].append(("", target))
                else:
                    stage_copied[-1].append((rel, target))
    elif kw == "RUN":
        for script in re.findall(r"(\S*scripts/[\w./-]+\.sh)", rest):
            # Which repository file is this path, given what the stage copied where?
            path = script if script.startswith("/") else os.path.join(workdir, script)
            repo_rel = None
            for rel, target in stage_copied[-1]:
                t = target.rstrip("/")
                if rel == "" and path.startswith(t + "/"):
                    repo_rel = path[len(t) + 1:]
                elif path == t or path == os.path.join(t, os.path.basename(rel)):
                    repo_rel = rel
            if repo_rel is None:
                fail(f"Dockerfile:{n}: RUN calls {script}, which this stage has not copied in")
                continue
            full = os.path.join(root, repo_rel)
            if not os.access(full, os.X_OK):
                fail(f"Dockerfile:{n}: {repo_rel} is missing or not executable")
            if repo_rel.endswith("install_packages.sh"):
                # Its sourced helper must be there too.
                if not any(r == "scripts/lib/common.sh" for r, _ in stage_copied[-1]) and not any(
                        r == "" for r, _ in stage_copied[-1]):
                    fail(f"Dockerfile:{n}: install_packages.sh needs scripts/lib/common.sh copied beside it")
                groups = re.search(re.escape(script) + r"\s+([\w ]+)", rest)
                for g in (groups.group(1).split() if groups else []):
                    r = subprocess.run([full, "--list", g], capture_output=True, text=True)
                    if r.returncode != 0:
                        fail(f"Dockerfile:{n}: install_packages.sh {g}: {r.stderr.strip()}")

print("stages:", ", ".join(stages))


def group(name):
    r = subprocess.run([os.path.join(root, "scripts", "install_packages.sh"), "--list", name],
                       capture_output=True, text=True, check=True)
    return r.stdout.split()


groups = {g: group(g) for g in ("build", "test", "runtime")}
if shutil.which("apt-cache"):
    names = sorted({p for ps in groups.values() for p in ps})
    r = subprocess.run(["apt-cache", "show", "--no-all-versions", *names], capture_output=True, text=True)
    known = set(re.findall(r"^Package: (\S+)", r.stdout, re.M))
    for p in names:
        if p not in known:
            fail(f"package {p} is not known to apt (Debian 12): check scripts/lib/common.sh")
    print(f"{len(names)} package names known to apt")
else:
    print("apt-cache not found: package names not checked")

if binary and shutil.which("ldd") and shutil.which("dpkg"):
    closure = set(groups["runtime"])
    r = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                        "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances",
                        *groups["runtime"]], capture_output=True, text=True)
    closure |= set(re.findall(r"^(\S+)$", r.stdout, re.M))
    closure |= {m for m in re.findall(r"Depends: <?([\w.+-]+)>?", r.stdout)}
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    for lib in re.findall(r"=> (/\S+)", ldd):
        if "/usr/local/cuda" in lib:
            if not re.search(r"libcublas(Lt)?\.so", lib):
                fail(f"{binary} loads {lib} from the CUDA toolkit, which the image does not copy")
            continue
        owner = None
        for cand in (lib, os.path.realpath(lib), "/usr" + lib if lib.startswith("/lib") else lib):
            d = subprocess.run(["dpkg", "-S", cand], capture_output=True, text=True)
            if d.returncode == 0:
                owner = d.stdout.split(":")[0]
                break
        if owner is None:
            fail(f"{binary} loads {lib}, which no Debian package owns")
            continue
        prio = subprocess.run(["dpkg-query", "-W", "-f=${Priority} ${Essential}", owner],
                              capture_output=True, text=True).stdout
        if owner not in closure and "required" not in prio and "yes" not in prio:
            fail(f"{binary} loads {lib} ({owner}), which the runtime package group does not bring")
    print("runtime group covers the binary's shared libraries")

if failures:
    print(f"{len(failures)} problem(s)")
    sys.exit(1)
print("ok")
