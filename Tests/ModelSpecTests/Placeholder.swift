import XCTest

final class ModelSpecTestsPlaceholder: XCTestCase {}
