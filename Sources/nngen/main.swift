print("nngen")
