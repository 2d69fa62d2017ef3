"""PlatformIO build hook of the DeepMicroCompression library (library.json "extraScript").

In the user's platformio.ini::

    [env:uno]
    lib_deps = DeepMicroCompression
    custom_dmc_model = models/lenet.dmc     ; path relative to the project
    custom_dmc_name = lenet                 ; C++ name (default: model) -> #include "lenet.h"
    custom_dmc_board = uno                  ; optional: fail the build when it does not fit

It exports the model into $BUILD_DIR/dmc/<name> before compilation (torch-free: it runs the
bundled `dmc` package with the Python that runs PlatformIO, which needs numpy), skips the work
when the model, the options and dmc are unchanged, compiles the generated source, and stops the
build with dmc's message when the model is missing, corrupt or over budget. It never writes into
the project's source tree.
"""
import hashlib
import os
import subprocess
import sys

Import("env")  # noqa: F821  (SCons)

TAG = "[dmc]"


def _fail(msg):
    sys.stderr.write("%s error: %s\n" % (TAG, msg))
    env.Exit(1)  # noqa: F821


def _library_root():
    # SConscript runs this file with the library folder as the working directory
    here = os.getcwd()
    for cand in (here, os.path.dirname(here), os.path.dirname(os.path.dirname(here))):
        if os.path.isfile(os.path.join(cand, "library.json")) and os.path.isdir(os.path.join(cand, "extras", "python", "dmc")):
            return cand
    _fail("cannot locate the DeepMicroCompression library folder from %s" % here)


def main():
    model_opt = env.GetProjectOption("custom_dmc_model", "")  # noqa: F821
    if not model_opt:
        print("%s no custom_dmc_model in [env:%s]: nothing to generate" % (TAG, env["PIOENV"]))  # noqa: F821
        return
    name = env.GetProjectOption("custom_dmc_name", "model")  # noqa: F821
    board = env.GetProjectOption("custom_dmc_board", "")  # noqa: F821
    project = env.subst("$PROJECT_DIR")  # noqa: F821
    model = os.path.normpath(os.path.join(project, env.subst(model_opt)))  # noqa: F821
    if not os.path.isfile(model):
        _fail("custom_dmc_model = %s: no such file (%s)" % (model_opt, model))
    lib = _library_root()
    out = env.subst(os.path.join("$BUILD_DIR", "dmc", name))  # noqa: F821
    python = env.subst("$PYTHONEXE")  # noqa: F821
    pyenv = dict(os.environ)
    pyenv["PYTHONPATH"] = os.pathsep.join(filter(None, [os.path.join(lib, "extras", "python"), pyenv.get("PYTHONPATH")]))
    pyenv["DMC_RUNTIME_DIR"] = os.path.join(lib, "src")

    digest = hashlib.sha256()
    with open(model, "rb") as f:
        digest.update(f.read())
    for part in (name, board):
        digest.update(b"\0" + part.encode())
    for root, _, files in os.walk(os.path.join(lib, "extras", "python", "dmc")):   # dmc itself
        for fn in sorted(files):
            if fn.endswith(".py"):
                with open(os.path.join(root, fn), "rb") as f:
                    digest.update(f.read())
    stamp = os.path.join(out, ".dmc-stamp")
    wanted = digest.hexdigest()
    fresh = os.path.isfile(stamp) and open(stamp).read() == wanted and \
        all(os.path.isfile(os.path.join(out, name + ext)) for ext in (".h", ".cpp"))
    if fresh:
        print("%s %s unchanged: using %s" % (TAG, model_opt, out))
    else:
        if subprocess.call([python, "-c", "import numpy"], env=pyenv, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL) != 0:
            _fail("the Python running PlatformIO (%s) has no numpy; install it there "
                  "(%s -m pip install numpy)" % (python, python))
        steps = [["export", model, "--out", out, "--name", name]]
        if board:
            steps.insert(0, ["inspect", model, "--board", board])
        for step in steps:
            proc = subprocess.run([python, "-m", "dmc"] + step, env=pyenv, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, universal_newlines=True)
            if proc.returncode != 0:
                sys.stdout.write(proc.stdout)
                _fail("%s (custom_dmc_model = %s)" % ((proc.stderr or proc.stdout).strip(), model_opt))
            if step[0] == "inspect":
                sys.stdout.write(proc.stdout)
        with open(stamp, "w") as f:
            f.write(wanted)
        print("%s generated %s.h / %s.cpp from %s in %s" % (TAG, name, name, model_opt, out))

    env.Append(CPPPATH=[out])  # noqa: F821  (propagates to the project, which includes NAME.h)
    global_env = DefaultEnvironment()  # noqa: F821
    flag = "_DMC_SOURCES_BUILT_" + env["PIOENV"].replace("-", "_")  # noqa: F821
    if not global_env.get(flag):
        env.BuildSources(os.path.join("$BUILD_DIR", "dmc_build", name), out)  # noqa: F821
        global_env[flag] = True


main()
