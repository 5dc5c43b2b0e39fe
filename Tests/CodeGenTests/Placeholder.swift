import XCTest

final class CodeGenTestsPlaceholder: XCTestCase {}
