import Foundation

/// Where cnnc may write a file it produces (checkpoint, resume state, outputs).
///
/// Files are written to a temporary file and renamed over the path, which would silently turn a
/// device node, a FIFO, a symbolic link or a socket into a regular file. So a path is accepted
/// only when nothing is there yet or a regular file is, in an existing, writable folder.
public enum OutputPath {
  public static func check(_ path: String) throws(CheckpointError) {
    var status = stat()
    if lstat(path, &status) == 0 {
      let kind = status.st_mode & S_IFMT
      guard kind == S_IFREG else {
        throw CheckpointError(
          file: path,
          problem: "is \(describe(kind)); cnnc writes only to a new path or a regular file")
      }
    } else if errno != ENOENT {
      throw CheckpointError(
        file: path, problem: "cannot be examined: \(String(cString: strerror(errno)))")
    }
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder),
      isFolder.boolValue
    else {
      throw CheckpointError(file: path, problem: "the folder \(folder) does not exist")
    }
    guard access(folder, W_OK) == 0 else {
      throw CheckpointError(file: path, problem: "the folder \(folder) is not writable")
    }
  }

  private static func describe(_ kind: mode_t) -> String {
    switch kind {
    case S_IFDIR: return "a directory"
    case S_IFLNK: return "a symbolic link"
    case S_IFCHR: return "a character device"
    case S_IFBLK: return "a block device"
    case S_IFIFO: return "a FIFO"
    case S_IFSOCK: return "a socket"
    default: return "not a regular file"
    }
  }
}

/// An exclusive advisory lock (`flock`) on a checkpoint path for a whole training run, so that
/// two runs never write the same checkpoint; held until this value is released. The lock file
/// is `.<name>.lock` beside the checkpoint and names the holder's pid.
public final class CheckpointLock {
  public let path: String
  private let descriptor: Int32

  public init(checkpoint: String) throws(CheckpointError) {
    let url = URL(fileURLWithPath: checkpoint)
    path =
      url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).lock")
      .path
    descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
      throw CheckpointError(
        file: checkpoint,
        problem: "cannot create its lock file \(path): \(String(cString: strerror(errno)))")
    }
    guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
      var holder = [UInt8](repeating: 0, count: 32)
      let count = pread(descriptor, &holder, holder.count, 0)
      close(descriptor)
      let pid = count > 0 ? Int(String(decoding: holder[0..<count], as: UTF8.self)) : nil
      throw CheckpointError(
        file: checkpoint,
        problem: "another training run\(pid.map { " (pid \($0))" } ?? "") is writing this "
          + "checkpoint; wait for it to finish or choose another --out")
    }
    let pid = Array(String(getpid()).utf8)
    _ = ftruncate(descriptor, 0)
    _ = pwrite(descriptor, pid, pid.count, 0)
  }

  deinit {
    close(descriptor)  // releases the lock
  }

  /// Removes the temporary files an earlier run left beside `checkpoint` when it was killed
  /// while saving (`.<name>.<pid>.tmp`, `.<name>.resume.<pid>.tmp`). Only a lock holder may:
  /// no other run can be writing them.
  public func removeStaleTemporaries(of checkpoint: String) {
    let url = URL(fileURLWithPath: checkpoint)
    let folder = url.deletingLastPathComponent().path
    let prefix = ".\(url.lastPathComponent)."
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    for entry in entries where entry.hasPrefix(prefix) && entry.hasSuffix(".tmp") {
      unlink(folder + "/" + entry)
    }
  }
}

/// Test hook: with `CNNC_FAULT_AT=<point>` in the environment, the process kills itself with
/// SIGKILL at that point of a save (no cleanup, no handler can intervene, as with a real kill),
/// so tests can prove every instant recoverable.
/// Points: `resume-written`, `resume-renamed`, `checkpoint-written`, `checkpoint-renamed`.
enum FaultInjection {
  static func point(_ name: String) {
    guard let value = getenv("CNNC_FAULT_AT"), String(cString: value) == name else { return }
    kill(getpid(), SIGKILL)
  }
}
