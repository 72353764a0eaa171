/**
 * The Python client (clients/python) installed as its README says: a
 * virtual environment made from Debian's /usr/bin/python3 with
 * --system-site-packages (python3-grpcio, python3-protobuf) and
 * `pip install ./clients/python` into it, offline. Nothing is skipped: when
 * Debian's Python or its packages are missing this throws, and .ci/run
 * installs them first.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** Debian's interpreter: another python3 (pyenv) may come first on PATH. */
export const SYSTEM_PYTHON = "/usr/bin/python3";
export const PYTHON_CLIENT_DIR = path.resolve("clients", "python");
export const PYTHON_ADAPTER = path.resolve("test", "vectors", "adapters", "python-client.py");

export interface PythonEnv {
  /** The venv's python, with lotty_client installed. */
  python: string;
  remove(): void;
}

/** A fresh venv with the client installed (about 4 s). */
export function installPythonClient(): PythonEnv {
  const dir = mkdtempSync(path.join(tmpdir(), "lotty-python-"));
  const run = (command: string, args: string[]) =>
    execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  try {
    run(SYSTEM_PYTHON, ["-c", "import grpc, google.protobuf"]);
  } catch (error) {
    throw new Error(
      `${SYSTEM_PYTHON} cannot import grpc and google.protobuf: install Debian's python3-grpcio, ` +
        `python3-protobuf and python3-venv (.ci/run does). ${String(error)}`,
    );
  }
  run(SYSTEM_PYTHON, ["-m", "venv", "--system-site-packages", dir]);
  const python = path.join(dir, "bin", "python");
  run(python, ["-m", "pip", "install", "--quiet", "--no-index", PYTHON_CLIENT_DIR]);
  return { python, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
