"""DeepFace weight files with random values, for tests and benchmarks on machines that cannot download the real ones.

The networks are DeepFace's own (built by DeepFace), so a frame costs the same time and memory as with the real
weights; the predictions are meaningless.
"""
import os
from unittest import mock


def write_random_weights(folder) -> None:
    """DeepFace's emotion, age and gender networks, built by DeepFace itself, saved untrained under `folder`."""
    import h5py
    from deepface.commons import weight_utils
    from deepface.models.demography.tf import Age, Emotion, Gender
    from keras.src.legacy.saving import legacy_h5_format  # the .h5 layout DeepFace's weight files have

    os.makedirs(folder, exist_ok=True)

    def target(file_name, source_url=None, compress_type=None):
        return os.path.join(folder, file_name)

    def save(model, weight_file):
        with h5py.File(weight_file, "w") as handle:
            legacy_h5_format.save_weights_to_hdf5_group(handle, model)
        return model

    with mock.patch.object(weight_utils, "download_weights_if_necessary", target), \
            mock.patch.object(weight_utils, "load_model_weights", save):
        for module in (Emotion, Age, Gender):
            module.load_model()
