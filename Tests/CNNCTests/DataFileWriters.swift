import CPNG
import CTurboJPEG
import Foundation

@testable import CNNC

/// Writers of the data formats cnnc reads, for tests: the images are real files made with the
/// same libraries (libpng, libjpeg-turbo) and the formats' published layouts.
enum DataFileWriters {
  /// A fresh temporary folder.
  static func folder() throws -> String {
    let url = TestFiles.newURL()
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url.path
  }

  static func makeFolder(_ path: String) throws {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  /// A PNG of interleaved `channels` (1 or 3) bytes, height × width.
  static func png(_ pixels: [UInt8], height: Int, width: Int, channels: Int = 1, to path: String)
    throws
  {
    var image = png_image()
    image.version = png_uint_32(PNG_IMAGE_VERSION)
    image.width = png_uint_32(width)
    image.height = png_uint_32(height)
    image.format = channels == 1 ? png_uint_32(PNG_FORMAT_GRAY) : png_uint_32(PNG_FORMAT_FLAG_COLOR)
    let written = pixels.withUnsafeBytes {
      png_image_write_to_file(&image, path, 0, $0.baseAddress, 0, nil)
    }
    guard written != 0 else { throw DataError(file: path, "libpng could not write it") }
  }

  /// A JPEG (quality 95) of interleaved `channels` bytes.
  static func jpeg(_ pixels: [UInt8], height: Int, width: Int, channels: Int = 1, to path: String)
    throws
  {
    guard let handle = tjInitCompress() else { throw DataError(file: path, "no compressor") }
    defer { tjDestroy(handle) }
    var output: UnsafeMutablePointer<UInt8>?
    var size: UInt = 0
    let format = channels == 1 ? TJPF_GRAY : TJPF_RGB
    let status = pixels.withUnsafeBufferPointer {
      tjCompress2(
        handle, $0.baseAddress, Int32(width), 0, Int32(height), Int32(format.rawValue), &output,
        &size, Int32(channels == 1 ? TJSAMP_GRAY.rawValue : TJSAMP_444.rawValue), 95, 0)
    }
    guard status == 0, let output else { throw DataError(file: path, "libjpeg-turbo failed") }
    defer { tjFree(output) }
    try Data(bytes: output, count: Int(size)).write(to: URL(fileURLWithPath: path))
  }

  /// A `.npy` file: `descr` such as "|u1", "<f4", "<i8", and the raw little-endian values.
  static func npy(descr: String, shape: [Int], body: [UInt8], to path: String) throws {
    let dimensions = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
    var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(dimensions)), }"
    header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
    let length = header.utf8.count
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
    bytes += [UInt8(length & 0xFF), UInt8(length >> 8)] + Array(header.utf8) + body
    try Data(bytes).write(to: URL(fileURLWithPath: path))
  }

  static func int64Bytes(_ values: [Int]) -> [UInt8] {
    values.flatMap { value in withUnsafeBytes(of: Int64(value).littleEndian) { Array($0) } }
  }

  static func float32Bytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { value in withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) } }
  }

  /// An IDX file of unsigned bytes.
  static func idx(_ values: [UInt8], dimensions: [Int], to path: String) throws {
    var bytes: [UInt8] = [0, 0, 0x08, UInt8(dimensions.count)]
    for size in dimensions {
      bytes += [
        UInt8(size >> 24 & 0xFF), UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF),
        UInt8(size & 0xFF),
      ]
    }
    try Data(bytes + values).write(to: URL(fileURLWithPath: path))
  }
}
