import XCTest

final class ReferenceTestsPlaceholder: XCTestCase {}
