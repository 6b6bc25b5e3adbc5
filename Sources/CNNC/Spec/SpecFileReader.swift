/// Why a spec file could not be read, as a message ends: "the file does not exist".
public struct SpecFileError: Error, CustomStringConvertible, Sendable {
  public var reason: String
  public var description: String { reason }
}

extension SpecParser {
  /// Reads the spec file at `path` whole. Folders, devices, FIFOs and files over
  /// `maximumFileBytes` are refused before anything is read.
  public static func readFile(_ path: String) throws(SpecFileError) -> [UInt8] {
    do {
      let file = try SizedFile(path)
      guard file.size <= maximumFileBytes else {
        throw SpecFileError(
          reason: "the file is \(file.size) bytes, more than the \(maximumFileBytes >> 20) MiB "
            + "a spec may be")
      }
      return try file.read(file.size)
    } catch let failure as SizedFile.Failure {
      throw SpecFileError(reason: failure.reason)
    } catch let error as SpecFileError {
      throw error
    } catch {
      throw SpecFileError(reason: "\(error)")
    }
  }
}
