"""Running the models: decoding untrusted images, the logo detector and the crop embedder."""
