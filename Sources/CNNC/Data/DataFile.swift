import Foundation

/// A data file read by byte range (`pread`), a sample at a time, so that large files are never
/// held whole; or, for data inflated from a compressed archive member, the same reads from
/// bytes held in memory. Not mapped: a mapped file truncated by another program while cnnc
/// reads it kills the process with SIGBUS, where a short read is an error naming the file.
final class DataFile: @unchecked Sendable {
  let path: String
  let size: Int
  /// The open file; -1 for bytes held in memory.
  private let descriptor: Int32
  /// Bytes held in memory (an inflated member) instead of a file.
  private let held: [UInt8]

  /// Opens `path`; its size is known first so that callers check headers before reading the
  /// body. (Immutable after init, hence Sendable: `pread` needs no shared file offset.)
  init(_ path: String) throws(DataError) {
    descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard descriptor >= 0 else {
      throw DataError(
        file: path,
        errno == ENOENT
          ? "the file does not exist" : "cannot be opened: \(String(cString: strerror(errno)))")
    }
    var status = stat()
    guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
      close(descriptor)
      throw DataError(file: path, "is not a regular file")
    }
    self.path = path
    size = Int(status.st_size)
    held = []
  }

  init(path: String, bytes: [UInt8]) {
    self.path = path
    size = bytes.count
    held = bytes
    descriptor = -1
  }

  deinit {
    if descriptor >= 0 { close(descriptor) }
  }

  /// Reads the bytes in `range` (checked by the caller against `size`) into `target`. A file
  /// that has since become shorter (truncated or rewritten by another program while cnnc reads
  /// it) is an error naming it.
  func copy(_ range: Range<Int>, to target: UnsafeMutableRawPointer) throws(DataError) {
    precondition(range.lowerBound >= 0 && range.upperBound <= size)
    guard descriptor >= 0 else {
      held.withUnsafeBytes {
        target.copyMemory(from: $0.baseAddress! + range.lowerBound, byteCount: range.count)
      }
      return
    }
    var done = 0
    while done < range.count {
      let count = pread(
        descriptor, target + done, range.count - done, off_t(range.lowerBound + done))
      if count < 0 && errno == EINTR { continue }
      guard count > 0 else {
        let reason =
          count == 0
          ? "was truncated or rewritten while cnnc read it (it ends before byte "
            + "\(range.lowerBound + done), where it had \(size) bytes when opened); leave data "
            + "files alone while cnnc runs"
          : "cannot be read: \(String(cString: strerror(errno)))"
        throw DataError(file: path, reason)
      }
      done += count
    }
  }

  /// The bytes in `range`, read as `copy` reads them.
  func bytes(_ range: Range<Int>) throws(DataError) -> [UInt8] {
    var result = [UInt8](repeating: 0, count: range.count)
    var failure: DataError?
    result.withUnsafeMutableBytes { buffer in
      guard let address = buffer.baseAddress else { return }
      do throws(DataError) { try copy(range, to: address) } catch { failure = error }
    }
    if let failure { throw failure }
    return result
  }

  /// The bytes in `range` through `body`, read into `scratch` (grown as needed, kept by the
  /// caller so that a read allocates nothing once it is big enough).
  func withBytes<Result>(
    _ range: Range<Int>, scratch: inout [UInt8], _ body: (UnsafeRawBufferPointer) -> Result
  ) throws(DataError) -> Result {
    if scratch.count < range.count { scratch = [UInt8](repeating: 0, count: range.count) }
    var failure: DataError?
    let result = scratch.withUnsafeMutableBytes { buffer -> Result? in
      do throws(DataError) {
        if let address = buffer.baseAddress { try copy(range, to: address) }
      } catch {
        failure = error
        return nil
      }
      return body(UnsafeRawBufferPointer(rebasing: buffer[..<range.count]))
    }
    guard let result else { throw failure! }
    return result
  }

  /// `range` in chunks of at most `chunk` bytes, each read and given to `body` with its
  /// offset from `range`'s start: a scan of a whole file without a second copy of it. `body`
  /// returns false to stop.
  func forEachChunk(
    _ range: Range<Int>, chunk: Int = 1 << 20, _ body: (Int, UnsafeRawBufferPointer) -> Bool
  ) throws(DataError) {
    var scratch: [UInt8] = []
    var start = range.lowerBound
    while start < range.upperBound {
      let end = min(start + chunk, range.upperBound)
      let goOn = try withBytes(start..<end, scratch: &scratch) {
        body(start - range.lowerBound, $0)
      }
      guard goOn else { return }
      start = end
    }
  }
}
