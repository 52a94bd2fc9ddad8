# Input and param functions of the embed stage (embed.smk): the ONNX graph where it is used, an extractor's entry.


def get_onnx_input(name):
    """The fold's exported ONNX graph (or its check report) when embed.engine is onnx."""

    def inputs(wildcards):
        if config["embed"]["engine"] != "onnx":
            return []
        return f"models/{wildcards.exp}/fold{wildcards.fold}/{name}"

    return inputs


def get_extractor(name):
    """One entry of `extractors`, by name."""
    return {e["name"]: e for e in WHAT["extractors"]}[name]
