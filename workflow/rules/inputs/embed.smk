# Input and param functions of the embed stage (embed.smk): the ONNX graph where it is used, an extractor's entry.


def get_onnx_input(name):
    """The fold's exported ONNX graph (or its check report) when embed.engine is onnx."""

    def inputs(wildcards):
        if what(wildcards)["embed"]["engine"] != "onnx":
            return []
        return f"models/{wildcards.exp}/fold{wildcards.fold}/{name}"

    return inputs


def get_extractor(wildcards):
    """The job's entry of its experiment's `extractors`."""
    return {e["name"]: e for e in what(wildcards)["extractors"]}[wildcards.extractor]
