import XCTest

final class NNGenKitPlaceholder: XCTestCase {}
