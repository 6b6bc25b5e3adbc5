import Foundation

/// Every file cnnc writes goes through here: a temporary file beside the target, then a rename,
/// so readers see the old file or the new one, never half of one.
///
/// The temporary's name carries the writer's pid and 64 random bits, and it is created with
/// `O_CREAT | O_EXCL | O_NOFOLLOW`: a name planted in advance (a symbolic link to some other
/// file, say) makes the open fail instead of redirecting the write. An existing target keeps its
/// permission bits, owner and group, or the write is refused; a target without write permission
/// is refused rather than replaced (`OutputPath.check`, which commands also call before any
/// work). Temporaries left by a killed writer (its pid no longer running) are removed by the
/// next write of the same file.
public final class OutputFile {
  public let path: String
  /// The temporary file's path while it is being written.
  public let temporaryPath: String
  /// The open temporary file; write to it, or hand it to a child process as its stdout.
  public let descriptor: Int32
  private var finished = false

  /// Creates the temporary file for `path`, checking the target first (`OutputPath.check`).
  public convenience init(_ path: String) throws(CheckpointError) {
    try self.init(path, suffixes: { UInt64.random(in: .min ... .max) })
  }

  /// `suffixes` draws the temporary names' random part (tests plant links at the names it gives).
  init(_ path: String, suffixes: () -> UInt64) throws(CheckpointError) {
    try OutputPath.check(path)
    self.path = path
    let url = URL(fileURLWithPath: path)
    let folder = url.deletingLastPathComponent().path
    let name = url.lastPathComponent
    Self.removeStaleTemporaries(folder: folder, name: name)
    let stem = Self.stem(name)
    var status = stat()
    let existing = lstat(path, &status) == 0 ? status : nil
    // Checked again: something else may have been put there since `OutputPath.check`.
    if let existing, existing.st_mode & S_IFMT != S_IFREG {
      throw CheckpointError(file: path, problem: "is no longer a regular file; nothing written")
    }
    var created: (String, Int32)?
    for _ in 0..<16 {
      let candidate =
        "\(folder)/.\(stem).\(getpid()).\(String(suffixes(), radix: 16)).tmp"
      let opened = open(candidate, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o666)
      if opened >= 0 {
        created = (candidate, opened)
        break
      }
      guard errno == EEXIST else { break }
    }
    guard let (temporary, descriptor) = created else {
      throw CheckpointError(
        file: path,
        problem: "cannot create a temporary file in \(folder): \(String(cString: strerror(errno)))"
      )
    }
    (temporaryPath, self.descriptor) = (temporary, descriptor)
    if let existing {
      do throws(CheckpointError) {
        try keepOwnerAndMode(of: existing)
      } catch {
        discard()
        throw error
      }
    }
  }

  deinit { discard() }

  /// Appends `bytes` to the temporary file.
  public func write(_ bytes: [UInt8]) throws(CheckpointError) {
    var written = 0
    let ok = bytes.withUnsafeBytes { raw -> Bool in
      while written < raw.count {
        let result = Foundation.write(descriptor, raw.baseAddress! + written, raw.count - written)
        if result < 0 {
          if errno == EINTR { continue }
          return false
        }
        written += result
      }
      return true
    }
    guard ok else { throw failure("cannot write \(temporaryPath)") }
  }

  /// Flushes the temporary file to disk and renames it over the target; `faultLabel` names the
  /// save's fault-injection points (tests only).
  public func commit(faultLabel: String? = nil) throws(CheckpointError) {
    guard !finished else { return }
    guard fsync(descriptor) == 0 else { throw failure("cannot write \(temporaryPath)") }
    finished = true
    guard close(descriptor) == 0 else {
      let error = failure("cannot write \(temporaryPath)")
      unlink(temporaryPath)
      throw error
    }
    if let faultLabel { FaultInjection.point("\(faultLabel)-written") }
    guard rename(temporaryPath, path) == 0 else {
      let error = failure("cannot rename \(temporaryPath) into place")
      unlink(temporaryPath)
      throw error
    }
    if let faultLabel { FaultInjection.point("\(faultLabel)-renamed") }
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
    let folderDescriptor = open(folder, O_RDONLY | O_CLOEXEC)
    if folderDescriptor >= 0 {
      fsync(folderDescriptor)
      close(folderDescriptor)
    }
  }

  /// Removes the temporary file; the target is left as it was.
  public func discard() {
    guard !finished else { return }
    finished = true
    close(descriptor)
    unlink(temporaryPath)
  }

  /// Writes `bytes` to `path` atomically.
  public static func write(_ bytes: [UInt8], to path: String, faultLabel: String? = nil)
    throws(CheckpointError)
  {
    let file = try OutputFile(path)
    try file.write(bytes)
    try file.commit(faultLabel: faultLabel)
  }

  /// Writes several files, all or none: every temporary is created and written before the
  /// first rename, so a bad path or a full disk leaves every target as it was.
  public static func writeAll(_ files: [(bytes: [UInt8], path: String)]) throws(CheckpointError) {
    var staged: [OutputFile] = []
    for file in files {
      let output = try OutputFile(file.path)
      staged.append(output)
      try output.write(file.bytes)
      guard fsync(output.descriptor) == 0 else {
        throw output.failure("cannot write \(output.temporaryPath)")
      }
    }
    for output in staged { try output.commit() }
  }

  /// A file written in place as it grows (the training log, which is read while a run goes on):
  /// opened without following a link, truncated or (`appending`) added to, keeping an existing
  /// file's mode and owner.
  public static func openInPlace(_ path: String, appending: Bool = false) throws(CheckpointError)
    -> FileHandle
  {
    try OutputPath.check(path)
    let flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | (appending ? O_APPEND : O_TRUNC)
    let descriptor = open(path, flags, 0o666)
    guard descriptor >= 0 else {
      throw CheckpointError(
        file: path, problem: "cannot be created: \(String(cString: strerror(errno)))")
    }
    return FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
  }

  /// Temporaries of `name` (`.<name>.<pid>.tmp` or `.<name>.<pid>.<random>.tmp`) whose writer
  /// is no longer running. A live writer's are left alone, whoever it is.
  public static func removeStaleTemporaries(folder: String, name: String) {
    let prefix = ".\(stem(name))."
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    for entry in entries where entry.hasPrefix(prefix) && entry.hasSuffix(".tmp") {
      let middle = entry.dropFirst(prefix.count).dropLast(".tmp".count).split(
        separator: ".", omittingEmptySubsequences: false)
      guard (1...2).contains(middle.count), let pid = pid_t(middle[0]), pid > 0,
        middle.count == 1 || UInt64(middle[1], radix: 16) != nil
      else { continue }
      if pid != getpid(), kill(pid, 0) != 0, errno == ESRCH {
        unlink(folder + "/" + entry)
      }
    }
  }

  /// The target's name in its temporaries' names: whole, or cut to 200 bytes (at a character
  /// boundary) so that the pid and random part still fit a 255-byte file name.
  static func stem(_ name: String) -> String {
    guard name.utf8.count > 200 else { return name }
    var stem = ""
    for character in name {
      guard stem.utf8.count + character.utf8.count <= 200 else { break }
      stem.append(character)
    }
    return stem
  }

  private func keepOwnerAndMode(of existing: stat) throws(CheckpointError) {
    var created = stat()
    guard fstat(descriptor, &created) == 0 else { throw failure("cannot examine \(temporaryPath)") }
    if created.st_uid != existing.st_uid || created.st_gid != existing.st_gid {
      guard fchown(descriptor, existing.st_uid, existing.st_gid) == 0 else {
        throw failure(
          "belongs to user \(existing.st_uid), group \(existing.st_gid), and a replacement "
            + "written by this user cannot keep that owner (choose another path)")
      }
    }
    guard fchmod(descriptor, existing.st_mode & 0o777) == 0 else {
      throw failure("cannot give \(temporaryPath) the mode of the file it replaces")
    }
  }

  private func failure(_ what: String) -> CheckpointError {
    CheckpointError(file: path, problem: "\(what): \(String(cString: strerror(errno)))")
  }
}
