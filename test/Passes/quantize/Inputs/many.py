# Writes a graph whose weight column holds 7.9375 (scale 7.9375/127 =
# 0.0625 exactly) and 4095 weights of 0.015625 = 0.25 of a step.
print("graph @many(%x: tensor<1x4096xf32> {range = [-1.0, 1.0]}) -> "
      "tensor<1x1xf32> {")
print("  %w = const dense<[[7.9375], " + ", ".join(["[0.015625]"] * 4095) +
      "]> : tensor<4096x1xf32>")
print("  %y = matmul %x, %w {range = [-1.0, 1.0]} : tensor<1x1xf32>")
print("  return %y")
print("}")
