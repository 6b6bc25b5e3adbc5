import CNNCImages
import CTurboJPEG
import Foundation

/// PNG and JPEG files: their headers read without decoding, and their pixels decoded by
/// Debian's libpng (through `CNNCImages`, whose C catches libpng's longjmp and gives it a
/// caller-owned memory arena) and libjpeg-turbo (TurboJPEG API, which reports errors as return
/// codes).
enum ImageFile {
  enum Kind: String {
    case png = "PNG"
    case jpeg = "JPEG"
  }

  /// What a file's header says.
  struct Header {
    var kind: Kind
    var height: Int
    var width: Int
  }

  /// Larger image files are refused before they are read.
  static let maximumFileBytes = 64 << 20
  /// Images of more pixels than this are refused from their header (64 megapixels: a decoded
  /// RGB image of 192 MB per worker).
  static let maximumPixels = 1 << 26

  /// `header` if its size is one cnnc decodes; an error naming the file otherwise.
  private static func checked(_ header: Header, _ path: String) throws(DataError) -> Header {
    guard header.height * header.width <= maximumPixels else {
      throw DataError(
        file: path,
        "\(header.kind.rawValue) header declares \(header.height)×\(header.width) pixels, more than "
          + "cnnc decodes (\(maximumPixels))")
    }
    return header
  }

  /// Reads just enough of `path` to know its kind and size (the PNG's IHDR, the JPEG's SOF).
  static func header(of path: String) throws(DataError) -> Header {
    let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard descriptor >= 0 else {
      throw DataError(file: path, "cannot be opened: \(String(cString: strerror(errno)))")
    }
    defer { close(descriptor) }
    var start = [UInt8](repeating: 0, count: 24)
    let got = pread(descriptor, &start, 24, 0)
    guard got >= 3 else {
      throw DataError(file: path, "is not a PNG or JPEG image (it is \(max(got, 0)) bytes long)")
    }
    if got >= 24, start[0..<8].elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) {
      guard start[12..<16].elementsEqual(Array("IHDR".utf8)) else {
        throw DataError(file: path, "is a PNG file whose first chunk is not IHDR (corrupt)")
      }
      let width = start[16..<20].reduce(0) { $0 << 8 | Int($1) }
      let height = start[20..<24].reduce(0) { $0 << 8 | Int($1) }
      guard width > 0, height > 0, width <= 1 << 16, height <= 1 << 16 else {
        throw DataError(file: path, "PNG header declares \(width)×\(height) pixels")
      }
      return try checked(Header(kind: .png, height: height, width: width), path)
    }
    if start[0] == 0xFF && start[1] == 0xD8 && start[2] == 0xFF {
      return try jpegHeader(descriptor, path)
    }
    let shown = start[0..<min(got, 8)].map { String(format: "%02x", $0) }.joined(separator: " ")
    throw DataError(file: path, "is not a PNG or JPEG image (it starts with bytes \(shown))")
  }

  /// Walks a JPEG's marker segments (each FF, code, 2-byte length) up to the start-of-frame.
  private static func jpegHeader(_ descriptor: Int32, _ path: String) throws(DataError) -> Header {
    var offset = 2
    var segment = [UInt8](repeating: 0, count: 10)
    for _ in 0..<4096 {
      let got = pread(descriptor, &segment, 10, off_t(offset))
      guard got >= 4, segment[0] == 0xFF else {
        throw DataError(file: path, "JPEG data ends or is corrupt before its frame header")
      }
      let code = segment[1]
      if code == 0xFF {  // fill byte
        offset += 1
        continue
      }
      let length = Int(segment[2]) << 8 | Int(segment[3])
      // SOF0-SOF15, except DHT (C4), JPG (C8) and DAC (CC).
      if code >= 0xC0 && code <= 0xCF && ![0xC4, 0xC8, 0xCC].contains(code) {
        let height = Int(segment[5]) << 8 | Int(segment[6])
        let width = Int(segment[7]) << 8 | Int(segment[8])
        guard got == 10 else {
          throw DataError(file: path, "JPEG data ends inside its frame header")
        }
        guard width > 0, height > 0 else {
          throw DataError(file: path, "JPEG frame header declares \(width)×\(height) pixels")
        }
        // libjpeg-turbo converts 8-bit grey and colour (1 or 3 components) to what the input
        // takes; CMYK and YCCK (4) it cannot, and would say so only when the image is decoded,
        // mid-training. Found here, when the folder is opened.
        let (precision, components) = (Int(segment[4]), Int(segment[9]))
        guard precision == 8, components == 1 || components == 3 else {
          let kind = components == 4 ? " (CMYK or YCCK)" : ""
          throw DataError(
            file: path,
            "is a JPEG of \(components) colour components\(kind) at \(precision) bits; cnnc "
              + "decodes 8-bit grey or colour JPEGs (1 or 3 components): convert it to RGB")
        }
        return try checked(Header(kind: .jpeg, height: height, width: width), path)
      }
      guard length >= 2, code != 0xDA, code != 0xD9 else {
        throw DataError(file: path, "JPEG data has no frame header before its image data")
      }
      offset += 2 + length
    }
    throw DataError(file: path, "JPEG data has too many segments before its frame header")
  }

  /// Reads `path` into `bytes` (grown when needed); returns its length.
  static func read(_ path: String, into bytes: inout [UInt8]) throws(DataError) -> Int {
    // withCString: the path's own bytes, where the implicit String-to-pointer conversion
    // allocates a copy (AllocationTests.readingPNGSamplesAllocatesNothing).
    let descriptor = path.withCString { open($0, O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
    guard descriptor >= 0 else {
      throw DataError(file: path, "cannot be opened: \(String(cString: strerror(errno)))")
    }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
      throw DataError(file: path, "is not a regular file")
    }
    let size = Int(status.st_size)
    guard size <= maximumFileBytes else {
      throw DataError(
        file: path, "is \(size) bytes, more than cnnc reads for one image (\(maximumFileBytes))")
    }
    if bytes.count < size { bytes = [UInt8](repeating: 0, count: size) }
    var done = 0
    while done < size {
      let got = bytes.withUnsafeMutableBytes {
        Foundation.read(descriptor, $0.baseAddress! + done, size - done)
      }
      if got > 0 {
        done += got
      } else if got == 0 {
        break
      } else if errno != EINTR {
        throw DataError(file: path, "cannot be read: \(String(cString: strerror(errno)))")
      }
    }
    return done
  }

  /// Decodes the `size` bytes of `file` (a PNG or JPEG) into `pixels` as `channels` (1: grey,
  /// 3: RGB) interleaved bytes, height × width × channels; throws unless it is `height` × `width`.
  static func decode(
    _ file: [UInt8], size: Int, path: String, channels: Int, height: Int, width: Int,
    into pixels: inout [UInt8], scratch: DecodeScratch
  ) throws(DataError) {
    let needed = height * width * channels
    if pixels.count < needed { pixels = [UInt8](repeating: 0, count: needed) }
    if size >= 8 && file[0] == 0x89 && file[1] == 0x50 {
      try decodePNG(
        file, size: size, path: path, channels: channels, height: height, width: width,
        into: &pixels, scratch: scratch)
    } else {
      try decodeJPEG(
        file, size: size, path: path, channels: channels, height: height, width: width,
        into: &pixels, scratch: scratch)
    }
  }

  private static func decodePNG(
    _ file: [UInt8], size: Int, path: String, channels: Int, height: Int, width: Int,
    into pixels: inout [UInt8], scratch: DecodeScratch
  ) throws(DataError) {
    let needed = cnnc_png_arena_bytes(Int32(width))
    if scratch.pngArena.count < needed { scratch.pngArena = [UInt8](repeating: 0, count: needed) }
    let status = file.withUnsafeBufferPointer { bytes in
      pixels.withUnsafeMutableBufferPointer { target in
        scratch.pngArena.withUnsafeMutableBufferPointer { arena in
          var memory = cnnc_arena(base: arena.baseAddress, size: arena.count, used: 0)
          return cnnc_png_decode(
            bytes.baseAddress, size, target.baseAddress, Int32(height), Int32(width),
            Int32(channels), &memory, &scratch.message, scratch.message.count)
        }
      }
    }
    guard status == 0 else {
      let reason = scratch.message.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
      throw DataError(
        file: path,
        reason.hasPrefix("is ") ? reason : "PNG data is corrupt or truncated: \(reason)")
    }
  }

  private static func decodeJPEG(
    _ file: [UInt8], size: Int, path: String, channels: Int, height: Int, width: Int,
    into pixels: inout [UInt8], scratch: DecodeScratch
  ) throws(DataError) {
    if scratch.jpegDecoder == nil { scratch.jpegDecoder = OpaquePointer(tjInitDecompress()) }
    guard let handle = scratch.jpegDecoder.map({ UnsafeMutableRawPointer($0) }) else {
      throw DataError(file: path, "libjpeg-turbo could not start a decoder")
    }
    var (jpegWidth, jpegHeight, subsampling, colorspace): (Int32, Int32, Int32, Int32) = (
      0, 0, 0, 0
    )
    let status = file.withUnsafeBufferPointer { bytes in
      tjDecompressHeader3(
        handle, bytes.baseAddress, UInt(size), &jpegWidth, &jpegHeight, &subsampling, &colorspace)
    }
    guard status == 0 else {
      throw DataError(
        file: path, "JPEG data is corrupt: \(String(cString: tjGetErrorStr2(handle)))")
    }
    guard Int(jpegHeight) == height, Int(jpegWidth) == width else {
      throw DataError(
        file: path, "is \(jpegHeight)×\(jpegWidth) pixels; expected \(height)×\(width)")
    }
    let format = channels == 1 ? TJPF_GRAY : TJPF_RGB
    let decoded = file.withUnsafeBufferPointer { bytes in
      pixels.withUnsafeMutableBufferPointer { target in
        tjDecompress2(
          handle, bytes.baseAddress, UInt(size), target.baseAddress, jpegWidth, 0, jpegHeight,
          Int32(format.rawValue), 0)
      }
    }
    // libjpeg-turbo's warnings (such as "premature end of data") also return -1: a truncated
    // file is an error, not a half-grey image.
    guard decoded == 0 else {
      throw DataError(
        file: path, "JPEG data is corrupt or truncated: \(String(cString: tjGetErrorStr2(handle)))")
    }
  }

  /// Bilinear resampling of interleaved bytes (pixel centres aligned, as PIL's and OpenCV's
  /// resize without antialiasing), `from` (h, w) to `to` (h, w).
  static func resize(
    _ source: [UInt8], from: Pair, to: Pair, channels: Int, into target: inout [UInt8]
  ) {
    let needed = to.height * to.width * channels
    if target.count < needed { target = [UInt8](repeating: 0, count: needed) }
    let yScale = Float(from.height) / Float(to.height)
    let xScale = Float(from.width) / Float(to.width)
    for y in 0..<to.height {
      let sourceY = max(0, (Float(y) + 0.5) * yScale - 0.5)
      let y0 = min(Int(sourceY), from.height - 1)
      let y1 = min(y0 + 1, from.height - 1)
      let fy = sourceY - Float(y0)
      for x in 0..<to.width {
        let sourceX = max(0, (Float(x) + 0.5) * xScale - 0.5)
        let x0 = min(Int(sourceX), from.width - 1)
        let x1 = min(x0 + 1, from.width - 1)
        let fx = sourceX - Float(x0)
        for c in 0..<channels {
          func at(_ row: Int, _ column: Int) -> Float {
            Float(source[(row * from.width + column) * channels + c])
          }
          let top = at(y0, x0) + (at(y0, x1) - at(y0, x0)) * fx
          let bottom = at(y1, x0) + (at(y1, x1) - at(y1, x0)) * fx
          let value = top + (bottom - top) * fy
          target[(y * to.width + x) * channels + c] = UInt8(min(255, max(0, value.rounded())))
        }
      }
    }
  }
}

extension DecodeScratch {
  func releaseJPEGDecoder() {
    if let handle = jpegDecoder { tjDestroy(UnsafeMutableRawPointer(handle)) }
    jpegDecoder = nil
  }
}
