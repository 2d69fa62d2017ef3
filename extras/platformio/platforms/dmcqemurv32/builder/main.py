"""QEMU RISC-V RV32: riscv64-unknown-elf-gcc (-march=rv32imc -mabi=ilp32, picolibc) builds
firmware.elf; ``program`` runs it in qemu-system-riscv32 (machine virt, no BIOS) with the
ns16550 UART on stdin/stdout and an instruction-driven virtual clock (-icount shift=0), so the
serial runner reports exact instruction counts read from the instret CSR (shim/port_rv32.cpp);
the launcher says so on stderr for dmc.deploy.device. With sleep=off the virtual clock
never waits for the host's: several times faster, same counts (the firmware never idles)."""
import os
import stat

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
board = env.BoardConfig()
arch = ["-march=%s" % board.get("build.march"), "-mabi=%s" % board.get("build.mabi")]
prefix = "riscv64-unknown-elf-"
env.Replace(
    AR=prefix + "gcc-ar", AS=prefix + "gcc", CC=prefix + "gcc", CXX=prefix + "g++", LINK=prefix + "gcc",  # no libstdc++ for RV32: link as C
    RANLIB=prefix + "gcc-ranlib", SIZETOOL=prefix + "size",
    ARFLAGS=["rc"], PROGNAME="firmware", PROGSUFFIX=".elf",
    SIZEPROGREGEXP=r"^(?:\.text|\.data)\s+(\d+).*",
    SIZEDATAREGEXP=r"^(?:\.data|\.bss)\s+(\d+).*",
    SIZECHECKCMD="$SIZETOOL -A -d $SOURCES",
    SIZEPRINTCMD="$SIZETOOL -A -d $SOURCES",
)
env.Append(
    ASFLAGS=arch,
    CCFLAGS=["-Os", "-Wall", "-ffunction-sections", "-fdata-sections", "--specs=picolibc.specs"] + arch,
    CXXFLAGS=["-std=gnu++11", "-fno-exceptions", "-fno-rtti", "-fno-threadsafe-statics"],
    CPPDEFINES=[("F_CPU", board.get("build.f_cpu")), "DMC_INSTRUCTION_COUNTER",
                ("DMC_QEMU_ICOUNT_SHIFT", board.get("build.qemu_icount_shift"))],
    LINKFLAGS=arch + ["-Wl,--gc-sections", "--specs=picolibc.specs", "-nostartfiles", "-Wl,--no-warn-rwx-segments"],
)
program = env.BuildProgram()
launcher = env.subst("$BUILD_DIR/program")


def write_launcher(target, source, env):
    with open(launcher, "w") as f:
        f.write('#!/bin/sh\necho "DMC_COUNTER instructions" >&2\n'
                'exec qemu-system-riscv32 -M %s -bios none -nographic -monitor none -icount shift=%d,sleep=off '
                '-chardev stdio,id=uart,mux=off,signal=off -serial chardev:uart "$@" -kernel "%s"\n'
                % (board.get("build.qemu_machine"), board.get("build.qemu_icount_shift"),
                   env.subst("$BUILD_DIR/firmware.elf")))
    os.chmod(launcher, os.stat(launcher).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return 0


env.AddPostAction(program, write_launcher)
AlwaysBuild(env.Alias("exec", program, env.VerboseAction(launcher + " $PROGRAM_ARGS", "Emulating $SOURCE")))
Default([program])
