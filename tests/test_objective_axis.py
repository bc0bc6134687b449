"""The objectives axis (:mod:`saub.objective_axis`): prior scores, the objectives computed through the
VAUB family equal :mod:`saub.score_matching` and closed forms, undefined combinations are refused,
one step is Alg. 1 of seed 002 by hand, and training with every defined objective lowers its loss."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from benchmarks.contracts import Budget
from benchmarks.registry import METHODS, TASKS
from saub.networks import MultiDomainAutoencoder
from saub.objective import reparameterize, vaub_terms
from saub.objective_axis import (
    OBJECTIVES,
    ObjectiveLosses,
    check_objective,
    defined_objectives,
    minimum_samples,
    parameter_groups,
    step_objective,
    undefined_reason,
)
from saub.priors import EnergyPrior, MixtureOfGaussiansPrior, ScorePrior, StandardGaussianPrior, VampPrior
from saub.score_matching import (
    VariationalScoreMatching,
    elbo,
    fae_objective,
    m1_objective,
    m2_objective,
    m3_objective,
    posterior_fisher_divergence,
    posterior_kl,
    posterior_z_scores,
    sample_posterior,
)

pytestmark = pytest.mark.usefixtures("single_thread")
DT = torch.float64


def _model(n_domains: int = 2, dim: int = 3, latent: int = 2) -> MultiDomainAutoencoder:
    torch.manual_seed(0)
    return MultiDomainAutoencoder((dim,), n_domains, latent, hidden=8, batchnorm_mean=False).double()


def _batch(n: int = 12, dim: int = 3, n_domains: int = 2):
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(n, dim, generator=gen, dtype=DT)
    d = torch.arange(n) % n_domains
    return x, d


# --- prior scores -----------------------------------------------------------------------------------


def test_prior_scores_match_closed_forms_and_torch_distributions():
    z = torch.randn(7, 2, dtype=DT)
    assert torch.allclose(StandardGaussianPrior(2).grad_log_prob(z), -z)

    mog = MixtureOfGaussiansPrior(2, 3).double()
    dist = torch.distributions
    comps = dist.Independent(dist.Normal(mog.means, (0.5 * mog.logvars).exp()), 1)
    mix = dist.MixtureSameFamily(dist.Categorical(logits=mog.logits), comps)
    zz = z.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(mix.log_prob(zz).sum(), zz)
    assert torch.allclose(mog.grad_log_prob(z), expected)

    # E(z) = aᵀz: Q ∝ exp(−aᵀz) N(0, I) = N(−a, I), whose score is −(z + a).
    lin = nn.Linear(2, 1, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.7, -1.3]], dtype=DT))
    ebm = EnergyPrior(2, energy_net=lin)
    assert torch.allclose(ebm.grad_log_prob(z), -(z + lin.weight[0]))

    score = ScorePrior(2, sigma_min=0.05, sigma_max=1.0).double()
    sig = torch.full((7,), 0.05, dtype=DT)
    assert torch.allclose(score.grad_log_prob(z), score.score_net(z, sig))


def test_vamp_score_is_that_of_its_mixture_of_encoded_pseudo_inputs():
    model = _model()
    vamp = VampPrior(2, (3,), 2, model.encode_domain, n_pseudo=2, encoder_modules=model).double()
    means, logvars = vamp.components()
    z = torch.randn(5, 2, dtype=DT)
    # Brute force: Σ_k w_k N_k(z) (−(z − μ_k)/σ_k²) / Σ_k w_k N_k(z), equal weights.
    dens = torch.stack([torch.distributions.Normal(m, (0.5 * lv).exp()).log_prob(z).sum(-1).exp()
                        for m, lv in zip(means, logvars)], 1)
    grads = torch.stack([-(z - m) / lv.exp() for m, lv in zip(means, logvars)], 1)
    expected = (dens.unsqueeze(-1) * grads).sum(1) / dens.sum(1, keepdim=True)
    assert torch.allclose(vamp.grad_log_prob(z), expected.detach())


def test_posterior_scores_and_fd_by_prior_score_equal_those_by_log_density():
    model, mog = _model(1), MixtureOfGaussiansPrior(2, 3).double()
    x, _ = _batch(6, n_domains=1)
    noise = torch.randn(2, 6, 2, dtype=DT)

    def enc(xs):
        return model.encode_domain(xs, 0)

    def dec(zs):
        return model.decode_domain(zs, 0)

    ps = sample_posterior(x, enc, dec, -0.5, 2, noise, reparameterize=False)
    by_density = posterior_z_scores(ps, mog.log_prob)
    by_score = posterior_z_scores(ps, prior_score=mog.grad_log_prob)
    for a, b in zip(by_density, by_score):
        assert torch.allclose(a, b)
    fd_a = posterior_fisher_divergence(x, enc, dec, -0.5, 2, noise=noise, log_prior=mog.log_prob)
    fd_b = posterior_fisher_divergence(x, enc, dec, -0.5, 2, noise=noise, prior_score=mog.grad_log_prob)
    assert torch.allclose(fd_a, fd_b)
    with pytest.raises(ValueError, match="not both"):
        posterior_z_scores(ps, mog.log_prob, mog.grad_log_prob)


# --- objectives through the method -------------------------------------------------------------------


def _library_per_domain(fn, model, x, d, log_gamma, seed, n_samples=2):
    """Σ_d mean of the library function on domain d's rows, drawing the same noise as the axis."""
    torch.manual_seed(seed)
    total = 0.0
    for dom in (0, 1):
        total = total + fn(x[d == dom], lambda xs, dom=dom: model.encode_domain(xs, dom),
                           lambda zs, dom=dom: model.decode_domain(zs, dom), log_gamma, n_samples).mean()
    return total


@pytest.mark.parametrize("objective", [o for o in OBJECTIVES if o != "vaub"])
def test_objective_losses_equal_the_library_functions(objective):
    model, prior = _model(), MixtureOfGaussiansPrior(2, 3).double()
    x, d = _batch()
    beta, obs_std = 0.5, 0.8
    losses = ObjectiveLosses(objective, model, prior, beta=beta, obs_std=obs_std, n_samples=2)
    log_gamma = math.log(beta * obs_std**2)
    assert losses.log_gamma == pytest.approx(log_gamma)
    log_p = prior.log_prob
    inference = {"kl": lambda *a: posterior_kl(*a, kl="mc", log_prior=log_p),
                 "fd": lambda *a: posterior_fisher_divergence(*a, log_prior=log_p)}
    learning = {"elbo": lambda *a: -elbo(*a, kl="mc", log_prior=log_p),
                "m1": lambda *a: m1_objective(*a, include_q_term=False),
                "m2": m2_objective, "m3": m3_objective,
                "fae": lambda *a: fae_objective(*a, log_prior=log_p)}
    spec = OBJECTIVES[objective]
    if spec.inference is not None:
        torch.manual_seed(3)
        ours = losses.inference(x, d)
        assert torch.allclose(ours, _library_per_domain(inference[spec.inference], model, x, d, log_gamma, 3))
    torch.manual_seed(4)
    ours = losses.learning(x, d)
    assert torch.allclose(ours, _library_per_domain(learning[spec.learning], model, x, d, log_gamma, 4))


def test_fd_elbo_learning_has_the_theta_gradient_of_the_vaub_objective():
    """γ = β·obs_std²: the decoder gradient of −ELBO (1) with that γ is the decoder gradient of the VAUB
    objective's (1/β) Rec with std obs_std (eq. 6-7), on the same sample."""
    model, prior = _model(), StandardGaussianPrior(2)
    x, d = _batch()
    beta, obs_std = 0.4, 0.7
    theta = parameter_groups(model, prior)["theta"]
    torch.manual_seed(5)
    ours = ObjectiveLosses("fd-elbo", model, prior, beta=beta, obs_std=obs_std).learning(x, d)
    g_ours = torch.autograd.grad(ours, theta)
    torch.manual_seed(5)  # the same ε, domain by domain
    parts = []
    for dom in (0, 1):
        mean, logvar = model.encode_domain(x[d == dom], dom)
        parts.append((mean, logvar, reparameterize(mean, logvar)))
    mean, logvar, z = (torch.zeros(len(x), 2, dtype=DT) for _ in range(3))
    for dom, (m, lv, zz) in zip((0, 1), parts):
        mean[d == dom], logvar[d == dom], z[d == dom] = m, lv, zz
    terms = vaub_terms(mean, logvar, z, model.decode(z, d), x, d, prior, beta, "gaussian", obs_std)
    g_vaub = torch.autograd.grad(terms.total, theta)
    for a, b in zip(g_ours, g_vaub):
        assert torch.allclose(a, b)


def test_fd_inference_of_a_linear_gaussian_model_matches_the_closed_form():
    """One domain, g(z) = W z, q = N(μ, diag s²) with x-independent parameters, prior N(0, I): the exact
    posterior is N(m, P⁻¹), P = I + WᵀW/γ, m = P⁻¹Wᵀx/γ, and D_F[q||p(z|x)] = ½ E_q||−(z−μ)/s² + P(z−m)||²
    = ½ [ ||P(μ − m)||² + tr((P − S⁻¹)² S) ] with S = diag s² (A.4, eq. 26)."""
    model = MultiDomainAutoencoder((2,), 1, 2, hidden=4, dec_layers=1, batchnorm_mean=False).double()
    w = torch.tensor([[1.0, 0.5], [-0.3, 0.8]], dtype=DT)
    mu, logs2 = torch.tensor([0.2, -0.4], dtype=DT), torch.tensor([-1.0, -0.5], dtype=DT)
    model.encode_domain = lambda xs, dom: (mu.expand(len(xs), 2), logs2.expand(len(xs), 2))
    model.decode_domain = lambda zs, dom: zs @ w.T
    x = torch.tensor([[0.3, -0.6]], dtype=DT)
    d = torch.zeros(1, dtype=torch.int64)
    losses = ObjectiveLosses("fd-m1", model, StandardGaussianPrior(2), beta=1.0, obs_std=0.5)
    losses.n_samples = 4000
    torch.manual_seed(0)
    ours = losses.inference(x, d)
    gamma = 0.25
    p = torch.eye(2, dtype=DT) + w.T @ w / gamma
    m = torch.linalg.solve(p, w.T @ x[0] / gamma)
    s = torch.diag(logs2.exp())
    r = p - torch.linalg.inv(s)
    closed = 0.5 * ((p @ (mu - m)) ** 2).sum() + 0.5 * torch.trace(r @ r @ s)
    assert ours.item() == pytest.approx(closed.item(), rel=0.05)


@pytest.mark.parametrize("encoder_steps", [1, 2])
def test_one_step_is_alg1_by_hand_with_sgd(encoder_steps):
    """J times φ ← φ − η ∇_φ [D_F + λ L_GW](φ, θ), then θ' = θ − η ∇_θ M2(φ', θ), then ψ' = ψ − η ∇_ψ
    CE(φ'); S = 2 draws of q."""
    model, prior = _model(), MixtureOfGaussiansPrior(2, 3).double()
    x, d = _batch()
    lr, lam = 0.05, 0.3
    ref_model, ref_prior = _model(), MixtureOfGaussiansPrior(2, 3).double()
    ref_model.load_state_dict(model.state_dict())
    ref_prior.load_state_dict(prior.state_dict())
    losses = ObjectiveLosses("fd-m2", model, prior, n_samples=2)
    opt = torch.optim.SGD(list(model.parameters()) + list(prior.parameters()), lr=lr)

    def gw_of(m):
        from saub.structural import gw_per_domain
        mean, logvar = m.encode(x, d)
        return gw_per_domain(x, reparameterize(mean, logvar), d)

    torch.manual_seed(7)
    step_objective(losses, opt, x, d, lambda: gw_of(model), lam, encoder_steps=encoder_steps)

    torch.manual_seed(7)
    ref = ObjectiveLosses("fd-m2", ref_model, ref_prior, n_samples=2)
    groups = parameter_groups(ref_model, ref_prior)
    for _ in range(encoder_steps):
        gw = gw_of(ref_model)
        g = torch.autograd.grad(ref.inference(x, d) + lam * gw, groups["phi"], allow_unused=True)
        with torch.no_grad():
            for p, gp in zip(groups["phi"], g):
                if gp is not None:
                    p -= lr * gp
    g = torch.autograd.grad(ref.learning(x, d), groups["theta"], allow_unused=True)
    with torch.no_grad():
        for p, gp in zip(groups["theta"], g):
            if gp is not None:
                p -= lr * gp
    g = torch.autograd.grad(ref.prior_fit(x, d), groups["psi"])
    with torch.no_grad():
        for p, gp in zip(groups["psi"], g):
            p -= lr * gp
    for a, b in zip(list(model.parameters()) + list(prior.parameters()),
                    list(ref_model.parameters()) + list(ref_prior.parameters())):
        assert torch.allclose(a, b)


def _flat(params) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in params])


@pytest.mark.parametrize("objective", ["kl-m1", "kl-m3"])
def test_bilevel_theta_gradient_is_the_finite_difference_of_the_unrolled_objective(objective):
    """K = 2 unrolled φ steps at η: φ ← φ_K and θ' = θ − lr dF/dθ with F(θ) = L(φ_K(θ), θ), the learning
    loss at the unrolled φ (App. B.1 of seed 002). φ's own optimiser step is 0 here, so φ_K starts at φ;
    dF/dθ is checked along random directions by central differences of a brute-force unroll with the
    same draws of q, and differs from the gradient at a fixed φ_K (the term through φ_K(θ)). KL inference
    is reparameterised, so dF/dθ is the total derivative (FD inference: the next test)."""
    steps, eta, lr, seed = 2, 0.3, 0.1, 7
    model, prior = _model(), StandardGaussianPrior(2)
    x, d = _batch()
    theta = parameter_groups(model, prior)["theta"]
    ref = _model()
    ref.load_state_dict(model.state_dict())
    opt = torch.optim.SGD([{"params": list(model.encoders.parameters()), "lr": 0.0},
                           {"params": theta, "lr": lr}])
    torch.manual_seed(seed)
    step_objective(ObjectiveLosses(objective, model, prior), opt, x, d, bilevel_steps=steps, bilevel_lr=eta)
    hypergradient = (_flat(parameter_groups(ref, prior)["theta"]) - _flat(theta)) / lr

    def unrolled(theta_shift: torch.Tensor):
        """(F(θ + shift), φ_K, ∂L/∂θ at φ_K held fixed) by a plain loop on a copy."""
        m = _model()
        m.load_state_dict(ref.state_dict())
        losses = ObjectiveLosses(objective, m, prior)
        groups = parameter_groups(m, prior)
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(_flat(groups["theta"]) + theta_shift, groups["theta"])
        torch.manual_seed(seed)
        losses.inference(x, d)  # the draw of the J step (φ unchanged at lr 0)
        for _ in range(steps):
            g = torch.autograd.grad(losses.inference(x, d), groups["phi"], allow_unused=True)
            with torch.no_grad():
                for p, gp in zip(groups["phi"], g):
                    if gp is not None:
                        p -= eta * gp
        loss = losses.learning(x, d)
        direct = torch.autograd.grad(loss, groups["theta"], allow_unused=True, retain_graph=True)
        direct = torch.cat([torch.zeros_like(p).reshape(-1) if g is None else g.reshape(-1)
                            for p, g in zip(groups["theta"], direct)])
        return loss.item(), _flat(groups["phi"]), direct

    _, phi_k, direct = unrolled(torch.zeros_like(hypergradient))
    assert torch.allclose(_flat(model.encoders.parameters()), phi_k, atol=1e-12)
    gen = torch.Generator().manual_seed(3)
    eps = 1e-5
    for _ in range(3):
        v = torch.randn(hypergradient.shape, generator=gen, dtype=DT)
        fd = (unrolled(eps * v)[0] - unrolled(-eps * v)[0]) / (2 * eps)
        assert (hypergradient @ v).item() == pytest.approx(fd, rel=1e-5, abs=1e-8)
        assert abs((direct @ v).item() - fd) > 1e-4 * max(1.0, abs(fd))


class _FirstDomainEncoder(nn.Module):
    """Domain 0's encoder network of a :class:`MultiDomainAutoencoder` as x -> (mean, log-variance)."""

    def __init__(self, model: MultiDomainAutoencoder):
        super().__init__()
        self.net = model.encoders[0]

    def forward(self, x):
        return self.net(x, None, None)


@pytest.mark.parametrize("objective", ["fd-m1", "fd-m3"])
def test_bilevel_step_with_fd_inference_is_the_library_bilevel_scheme(objective):
    """With non-reparameterised FD inference the unrolled steps' samples are detached, so dF/dθ follows
    φ_K(θ) through the scores only; on one domain the step equals
    :class:`saub.score_matching.VariationalScoreMatching`'s (J = 1 at lr 0, K = 2), φ and θ after it."""
    steps, eta, lr, seed = 2, 0.3, 0.1, 7
    model, prior = _model(n_domains=1), StandardGaussianPrior(2)
    ref = _model(n_domains=1)
    ref.load_state_dict(model.state_dict())
    x, _ = _batch()
    d = torch.zeros(len(x), dtype=torch.long)
    opt = torch.optim.SGD([{"params": list(model.encoders.parameters()), "lr": 0.0},
                           {"params": list(model.decoders.parameters()), "lr": lr}])
    torch.manual_seed(seed)
    step_objective(ObjectiveLosses(objective, model, prior), opt, x, d, bilevel_steps=steps, bilevel_lr=eta)
    encoder = _FirstDomainEncoder(ref)
    algo = VariationalScoreMatching(
        encoder, lambda z: ref.decode_domain(z, 0), torch.zeros((), dtype=DT),
        torch.optim.SGD(encoder.parameters(), lr=0.0), torch.optim.SGD(ref.decoders.parameters(), lr=lr),
        inference="fd", learning=OBJECTIVES[objective].learning, bilevel_steps=steps, bilevel_lr=eta)
    torch.manual_seed(seed)
    algo.step(x)
    plain = _model(n_domains=1)  # K = 0 from the same start: a different θ, so the unroll matters
    torch.manual_seed(seed)
    step_objective(ObjectiveLosses(objective, plain, prior),
                   torch.optim.SGD(plain.decoders.parameters(), lr=lr), x, d)
    theta_k0, theta_k2 = _flat(plain.decoders.parameters()), _flat(model.decoders.parameters())
    assert not torch.allclose(theta_k0, theta_k2, atol=1e-6)
    for ours, theirs in ((model.encoders, ref.encoders), (model.decoders, ref.decoders)):
        assert torch.allclose(_flat(ours.parameters()), _flat(theirs.parameters()), atol=1e-12)


# --- validation ----------------------------------------------------------------------------------------


def test_undefined_combinations_are_refused_naming_the_defined_ones():
    with pytest.raises(ValueError, match=r"same model as 'sfs'.*defined here: vaub, kl-m1, kl-m2$"):
        METHODS.get("lsgm").resolve({"objective": "fd-m1"})
    with pytest.raises(ValueError, match=r"Gaussian likelihood.*defined here: vaub$"):
        METHODS.get("vaub").resolve({"objective": "kl-m1", "likelihood": "bernoulli"})
    with pytest.raises(ValueError, match=r"batchnorm_mean=False.*defined here: vaub, kl-m1, kl-m2, fd-elbo, "
                                         r"fd-m1, fd-m2$"):
        METHODS.get("saub").resolve({"objective": "fae"})
    with pytest.raises(ValueError, match="valid objectives: vaub, kl-m1"):
        check_objective("sm", "gaussian")
    with pytest.raises(ValueError, match="choose one of vaub, kl-m1"):
        METHODS.get("saub").resolve({"objective": "sm"})
    assert defined_objectives("score", "sfs") == list(OBJECTIVES)
    assert undefined_reason("vaub", "score", "lsgm", "bernoulli", True) is None


def test_m2_with_one_draw_and_j_without_a_phi_step_are_refused():
    """M2 (13) with S = 1 is M̃1 (8) less a q-only term: the same θ-gradient, shown, then refused."""
    model, prior = _model(), StandardGaussianPrior(2)
    x, d = _batch()
    theta = parameter_groups(model, prior)["theta"]
    grads = []
    for learning in (lambda *a: m1_objective(*a, include_q_term=False), m2_objective):
        loss = _library_per_domain(learning, model, x, d, 0.0, 5, n_samples=1)
        grads.append(torch.autograd.grad(loss, theta))
    assert all(torch.allclose(a, b) for a, b in zip(*grads))
    with pytest.raises(ValueError, match="objective_samples >= 2"):
        METHODS.get("vae-gaussian").resolve({"objective": "kl-m2", "batchnorm_mean": False})
    with pytest.raises(ValueError, match="objective_samples >= 2"):
        ObjectiveLosses("fd-m2", model, prior)
    config = METHODS.get("vae-gaussian").resolve({"objective": "kl-m2", "objective_samples": 2})
    assert config.objective_samples == 2
    for objective in ("vaub", "fae"):
        with pytest.raises(ValueError, match="inference step of its own"):
            METHODS.get("vae-gaussian").resolve({"objective": objective, "encoder_steps": 2,
                                                 "batchnorm_mean": False})
    with pytest.raises(ValueError, match="positive integer"):
        METHODS.get("vae-gaussian").resolve({"objective": "kl-m1", "encoder_steps": 0})
    with pytest.raises(ValueError, match="inference step of its own"):
        METHODS.get("vae-gaussian").resolve({"objective": "fae", "bilevel_steps": 1, "batchnorm_mean": False})
    with pytest.raises(ValueError, match="non-negative integer"):
        METHODS.get("vae-gaussian").resolve({"objective": "kl-m1", "bilevel_steps": -1})
    with pytest.raises(ValueError, match="bilevel_lr must be positive"):
        METHODS.get("vae-gaussian").resolve({"objective": "kl-m1", "bilevel_steps": 1, "bilevel_lr": 0.0})
    assert METHODS.get("saub").resolve({}).objective == "vaub"


# --- training ---------------------------------------------------------------------------------------------

DEFINED = [(method, objective) for method, prior, grad in
           (("vae-gaussian", "gaussian", "sfs"), ("vaub", "mog", "sfs"), ("vae-vamp", "vamp", "sfs"),
            ("vae-ebm", "ebm", "sfs"), ("lsgm", "score", "lsgm"), ("saub", "score", "sfs"))
           for objective in defined_objectives(prior, grad)
           if objective != "vaub" and (method == "vae-gaussian" or objective in ("kl-m1", "fd-elbo", "fae"))]
#: The bi-level scheme (K = 2) through the harness, once per inference.
BILEVEL = [("vae-gaussian", "kl-m1"), ("vaub", "fd-elbo")]


@pytest.mark.parametrize(("method", "objective", "bilevel_steps"),
                         [(m, o, 0) for m, o in DEFINED] + [(m, o, 2) for m, o in BILEVEL])
def test_training_with_each_objective_lowers_its_losses(method, objective, bilevel_steps):
    """A score prior is held fixed (prior_steps=0: a loss against a moving S_ψ need not fall), and its
    KL inference loss is not checked: its value is the SFS / LSGM surrogate, only its gradient is the KL's."""
    task = TASKS.get("nested-d")(seed=0, n_per_domain=40)
    entry = METHODS.get(method)
    score_prior = method in ("saub", "lsgm")
    config = entry.resolve({"objective": objective, "batchnorm_mean": False, "obs_std": 0.3, "lr": 3e-3,
                            "prior_steps": 0 if score_prior else 1, "langevin_steps": 3, "ebm_hidden": 16,
                            "hidden": 32, "objective_samples": minimum_samples(objective),
                            "bilevel_steps": bilevel_steps, "bilevel_lr": 3e-3})
    torch.manual_seed(0)
    curves = entry.build(config, task).fit(task.train, Budget(steps=80, batch_size=64), 0)
    assert set(entry.build(config, task).loss_weights()) <= set(curves)
    surrogate = score_prior and OBJECTIVES[objective].inference == "kl"
    checked = ["learning"] if surrogate else ["inference", "learning"]
    for name in checked:
        if name in curves:
            first, last = curves[name][:10], curves[name][-10:]
            assert sum(last) / 10 < sum(first) / 10, (name, first, last)
