/// A data file that cannot be used, with the file and what is wrong with it.
public struct DataError: Error, CustomStringConvertible, Sendable {
  public var file: String
  public var problem: String

  public init(file: String, _ problem: String) {
    self.file = file
    self.problem = problem
  }

  public var description: String { "\(file): \(problem)" }
}
