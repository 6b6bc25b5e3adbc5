"""The cnnc binary the README's test command builds, for the check scripts beside this file."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = ["swift", "build", "-c", "release", "-Xswiftc", "-enable-testing", "--product", "cnnc"]


def cnnc_binary():
    """Builds cnnc as `swift test -c release -Xswiftc -enable-testing` does (a no-op after it)
    and returns its path."""
    subprocess.run(BUILD, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    folder = subprocess.run(BUILD[:-2] + ["--show-bin-path"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    return os.path.join(folder, "cnnc")
