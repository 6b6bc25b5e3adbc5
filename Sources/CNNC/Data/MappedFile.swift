import Foundation

/// A regular file mapped read-only into memory: large data files are paged in as samples are
/// read instead of being read whole. Or, for data inflated from a compressed archive member,
/// the same view over bytes held in memory.
final class MappedFile: @unchecked Sendable {
  let path: String
  let size: Int
  private let base: UnsafeRawPointer?
  private let mapped: Bool
  /// Bytes held in memory (an inflated member) instead of a mapping.
  private let held: [UInt8]

  /// Maps `path`; its size is known first so that callers check headers before touching the
  /// body. (Immutable after init, hence Sendable: every reader only reads.)
  init(_ path: String) throws(DataError) {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard descriptor >= 0 else {
      throw DataError(
        file: path,
        errno == ENOENT
          ? "the file does not exist" : "cannot be opened: \(String(cString: strerror(errno)))")
    }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
      throw DataError(file: path, "is not a regular file")
    }
    self.path = path
    size = Int(status.st_size)
    held = []
    mapped = size > 0
    guard size > 0 else {
      base = nil
      return
    }
    let address = mmap(nil, size, PROT_READ, MAP_PRIVATE, descriptor, 0)
    guard let address, address != MAP_FAILED else {
      throw DataError(file: path, "cannot be mapped: \(String(cString: strerror(errno)))")
    }
    base = UnsafeRawPointer(address)
  }

  init(path: String, bytes: [UInt8]) {
    self.path = path
    size = bytes.count
    held = bytes
    mapped = false
    base = nil
  }

  deinit {
    if mapped, let base { munmap(UnsafeMutableRawPointer(mutating: base), size) }
  }

  /// The bytes in `range` (checked by the caller against `size`).
  func withBytes<Result>(
    _ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> Result
  ) rethrows -> Result {
    precondition(range.lowerBound >= 0 && range.upperBound <= size)
    if mapped, let base {
      return try body(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }
    return try held.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[range])) }
  }

  func bytes(_ range: Range<Int>) -> [UInt8] { withBytes(range) { Array($0) } }
}
