"""Camera frames into models and detections out: the image encoder, its geometry, detection decoding."""
