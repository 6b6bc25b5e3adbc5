// The IDX reader (MNIST's format) on arbitrary bytes, raw or gzipped. The check made from the
// header and the file's size alone (before a raw body is read) must agree with the check made
// on the whole file.
@testable import CNNC

/// Inflated data is capped lower than the reader's 512 MiB, to keep each run fast.
let inflateLimit = 1 << 20

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
  let bytes = Array(UnsafeBufferPointer(start: data, count: size))
  var raw = bytes
  if bytes.starts(with: [0x1F, 0x8B]) {
    guard let inflated = try? gunzip(bytes, limit: inflateLimit, file: "fuzz.gz") else {
      return 0
    }
    precondition(inflated.count <= inflateLimit, "gunzip passed its limit")
    raw = inflated
  }
  for counts in [1...1, 3...3, 3...4] {
    let whole = try? IDXReader.parse(raw, dimensionCounts: counts, file: "fuzz")
    let header = Array(raw.prefix(4 + 4 * counts.upperBound))
    let fromHeader = try? IDXReader.parse(
      header, dimensionCounts: counts, file: "fuzz", totalBytes: raw.count)
    precondition(
      (whole == nil) == (fromHeader == nil), "the header-first check disagrees with the whole file")
    if let whole {
      precondition(whole.dimensions.reduce(1, *) == whole.values.count, "values miscounted")
    }
  }
  return 0
}
