"""Hub adapters: strong pretrained video models from transformers behind vidmm's task verbs.

Each adapter wraps one transformers model and its processor, and offers the verbs of the tasks it
serves (the same verbs `VideoModel` and `LiteModel` have, so `vidmm.tasks` and the index need no
special cases):

    search / index      encode_video(video, normalize) -> (B, E), encode_text(texts, normalize) -> (N, E),
                        similarity(visual (…, E), text (N, E)) -> (…, N)
    classify, open set  zero_shot(video, labels) -> probs (B, N), per-frame scores (B, T, N)
    classify, fixed set label_names (tuple) and classify_frames(video, None) -> probs (B, C)
    caption             caption_frames(video, timestamps) -> list[str]
    ask                 ask_frames(video, timestamps, question) -> list[FrameAnswer]
    free prompts        generate_frames(video, timestamps, prompt) -> list[str]   (SmolVLM2)

video is uint8 `(T, H, W, 3)` or `(B, T, H, W, 3)`; timestamps are the frames' times in seconds.
A task a model does not serve raises NotImplementedError naming the model (`HubAdapter`'s
defaults). Tasks sample `num_frames` frames, or `frames_per_second` up to `num_frames`. Families are imported
lazily by the registry (see `registry._FAMILIES`).
"""
