"""Plain softmax cross-entropy: the baseline every other method is measured against."""
from .base import Method, per_sample_ce
from .domains import Real
from .spaces import Uniform


class Softmax(Method):
    defaults = {"label_smoothing": 0.0}
    domains = {"label_smoothing": Real(0, 1)}
    search_space = {"label_smoothing": Uniform(0.0, 0.3)}

    def train_step(self, batch, info):
        loss = per_sample_ce(self.model(batch.x), batch.y, self.hp["label_smoothing"]).mean()
        self.sgd_step(loss)
        return {"loss": loss.detach()}
