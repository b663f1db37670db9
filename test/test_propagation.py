"""Training-free propagation baseline: follows an object on a real photograph."""
import numpy as np
import skimage.data

from vos_ros.core.backbone import Backbone
from vos_ros.core.config import TrackerConfig
from vos_ros.core.propagation import PropagationSession
from vos_ros.core.types import Prompt


def test_propagation_keeps_a_static_object_and_its_label():
    frame = np.ascontiguousarray(skimage.data.coffee()[::2, ::2])      # 200 x 300, cup in the middle
    mask = np.zeros(frame.shape[:2], bool)
    mask[40:160, 70:230] = True
    session = PropagationSession(Backbone(), TrackerConfig.load())
    first = session.step(frame, [Prompt(mask=mask, label="cup")])
    assert np.array_equal(first.objects[0].mask, mask)
    shifted = np.roll(frame, 8, axis=1)
    res = session.step(shifted)
    pred = res.objects[0].mask
    target = np.roll(mask, 8, axis=1)
    iou = (pred & target).sum() / (pred | target).sum()
    assert iou > 0.7, iou
    assert res.objects[0].label == "cup" and set(np.unique(res.label_image)) == {0, 1}
