import XCTest

final class nngenTestsPlaceholder: XCTestCase {}
