"""Hub adapters: strong pretrained video models from transformers behind vidmm's task verbs.

Each adapter wraps one transformers model and its processor, calls it the way its model card does,
and offers the verbs of the tasks it serves (`vidmm.tasks.protocol`: the same verbs `VideoModel`
and `LiteModel` have, so the tasks and the index need no special cases):

    X-CLIP     encode_video, encode_text, similarity, encode_windows; zero_shot   search, classify
    VideoMAE   classify_own over its Kinetics labels (label_names)                classify
    GIT        caption_frames, ask_frames                                          caption, ask
    SmolVLM2   caption_frames, ask_frames, generate_frames (free prompts)          caption, ask

A verb an adapter does not have is a task its model does not do. Each module registers its family
(`families.register_family`); the registry imports every module of this package to find them.
Tasks sample `num_frames` frames, or `frames_per_second` up to `num_frames` (see `sampling`).
"""
