"""Human-readable tables for the terminal (rich) and the machine-readable JSON beside them."""

from __future__ import annotations

import json
from typing import Any, Iterable

from rich.console import Console
from rich.table import Table

from sdk_gen.budget import SAFETY_MARGIN, BudgetRow, MemoryBudget
from sdk_gen.model.spec import ModelSpec
from sdk_gen.planner import PlanResult
from sdk_gen.profiles import TARGET_OSES, DeviceProfile
from sdk_gen.units import human_bytes


def print_json(data: Any, console: Console | None = None) -> None:
    # Plain print: rich would wrap long lines and insert markup escapes into the JSON.
    print(json.dumps(data, indent=2, sort_keys=False))


def model_table(spec: ModelSpec) -> Table:
    table = Table(title=f"Model {spec.path}", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = [
        ("architecture", f"{spec.architecture} ({spec.family})"),
        ("parameters", f"{spec.num_params:,} (from {spec.params_source})"),
        ("  embedding / lm_head", f"{spec.params.embedding:,} / {spec.params.lm_head:,}"),
        ("  transformer matrices", f"{spec.params.linear:,}"),
        ("  norms and biases", f"{spec.params.other:,}"),
        ("layers", spec.num_layers),
        ("attention heads", spec.num_attention_heads),
        ("KV heads", spec.num_kv_heads),
        ("head dim", spec.head_dim),
        ("hidden size", spec.hidden_size),
        ("intermediate size", spec.intermediate_size),
        ("vocab", spec.vocab_size),
        ("max context", spec.max_context),
        ("sliding-window layers", _windows(spec)),
        ("tied embeddings", "yes" if spec.tied_embeddings else "no"),
        ("tokenizer", spec.tokenizer_kind),
        ("chat template", "present" if spec.has_chat_template else "absent"),
        ("stored dtype", spec.dtype),
        ("weights", ", ".join(spec.weight_files) or "none (config only)"),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    return table


def _windows(spec: ModelSpec) -> str:
    windowed = [w for w in spec.layer_windows if w is not None]
    if not windowed:
        return "none"
    return f"{len(windowed)} of {spec.num_layers} (window {max(windowed)})"


def profiles_table(profiles: Iterable[DeviceProfile]) -> Table:
    table = Table(title="Device profiles", title_justify="left")
    table.add_column("id", no_wrap=True, style="bold")
    for column in ("device", "RAM", "one app may use", "SoC", "GPU APIs", "OS minimum"):
        table.add_column(column)
    for p in profiles:
        app = f"{p.app_memory_gib:g} GiB"
        if p.app_memory_entitled_gib is not None:
            app += f" ({p.app_memory_entitled_gib:g} entitled)"
        table.add_row(p.id, p.name, f"{p.total_ram_gib:g} GiB", app, p.soc, ", ".join(p.gpu_apis), p.os_minimum)
    return table


def plan_tables(result: PlanResult) -> list[Table]:
    plan, budget, profile = result.plan, result.budget, result.profile
    runtime = plan.runtime
    summary = Table(title=f"Plan: {result.spec.path.name} on {profile.name}", show_header=False, title_justify="left")
    summary.add_column("field", style="bold")
    summary.add_column("value")
    summary.add_row("runtime", f"{runtime.display_name} ({runtime.key})")
    summary.add_row("quantization", f"{plan.quant.name}: {plan.quant.description}")
    summary.add_row("context", f"{plan.context} tokens")
    summary.add_row("backend", f"{plan.backend}, {plan.threads} threads")
    if profile.platform == "ios":
        summary.add_row("increased-memory-limit", "needed" if plan.memory_entitlement else "not needed")
    for reason in plan.reasons:
        summary.add_row("why", reason)
    return [summary, budget_table(result.spec, budget, runtime.memory_for(profile.platform).overhead_note, profile)]


def _how_figured(row: BudgetRow, spec: ModelSpec, budget: MemoryBudget, overhead_note: str, profile_platform: str = "") -> str:
    """The budget table's "how" column for one part of the footprint."""
    if row.key == "weights":
        return {
            "predicted": f"{spec.num_params:,} params x {budget.bits_per_param} bits (scales included)",
            "artifact": "size of the converted artifact",
        }.get(row.source, f"parameters as {row.source} reported them")
    if row.key == "load_copy":
        if profile_platform == "web":
            return f"{budget.load_copy_factor:g} x weights: the fetched file, held while the runtime reads it"
        return f"{budget.load_copy_factor:g} x weights: the CPU runtime's own copy, made at load"
    if row.key == "kv_cache":
        if row.source == "runtime":
            return "as the runtime reported allocating it"
        return f"{spec.num_layers} layers x 2 x {spec.num_kv_heads} KV heads x {spec.head_dim} x context x {budget.kv_bytes_per_element:g} B"
    if row.key == "working":
        if row.source == "predicted":
            return "prefill activations, attention scores, logits"
        return f"largest temporary buffer, as {row.source} planned it"
    if row.key == "overhead":
        return overhead_note
    raise AssertionError(f"budget row {row.key!r} has no explanation")


def budget_table(spec: ModelSpec, budget: MemoryBudget, overhead_note: str, profile: DeviceProfile) -> Table:
    table = Table(title="Memory budget", title_justify="left")
    table.add_column("part")
    table.add_column("bytes", justify="right")
    table.add_column("", justify="right")
    table.add_column("how")
    for row in budget.rows():
        if row.bytes:
            table.add_row(row.label, f"{row.bytes:,}", human_bytes(row.bytes), _how_figured(row, spec, budget, overhead_note, profile.platform))
    table.add_row("total", f"{budget.total_bytes:,}", human_bytes(budget.total_bytes), "", style="bold")
    if budget.budget_source == "app_memory_entitled":
        source = "with increased-memory-limit"
    else:
        source = "one browser tab's share" if profile.platform == "web" else "one app's share"
    table.add_row("device budget", f"{budget.budget_bytes:,}", human_bytes(budget.budget_bytes), f"{profile.id}: {source}")
    table.add_row(
        "safety margin", f"{budget.margin_bytes:,}", human_bytes(budget.margin_bytes), f"{int(SAFETY_MARGIN * 100)}% of the budget kept free"
    )
    verdict = "fits" if budget.fits else "does NOT fit"
    table.add_row("headroom", f"{budget.headroom_bytes:,}", human_bytes(budget.headroom_bytes), verdict, style="green" if budget.fits else "red")
    return table


def conversion_tables(result, output) -> list[Table]:
    """Tables for a finished conversion: the artifact, predicted vs actual size, the verification."""
    job = result.job
    table = Table(title=f"Converted {job.spec.path.name} for {job.runtime.display_name}", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("artifact", f"{output}/{job.artifact_name}")
    table.add_row("format", f".{job.artifact_format}, {job.quant.name}, context {job.context}")
    table.add_row("size", f"{result.artifact.bytes:,} bytes ({human_bytes(result.artifact.bytes)})")
    ratio = result.artifact.bytes / result.predicted_weights_bytes
    table.add_row("predicted", f"{result.predicted_weights_bytes:,} bytes (actual / predicted = {ratio:.3f})")
    table.add_row("sha256", result.artifact.sha256)
    table.add_row("cache", ("hit: " if result.cache_hit else "stored: ") + str(result.artifact.path))
    if result.adapter:
        table.add_row("adapter", f"{result.adapter.path} merged into the base (rank {result.adapter.rank})")
    verification = result.verification
    if verification is None:
        gap = job.runtime.host_verification_gap
        table.add_row("verification", f"not run on this machine: {gap}" if gap else "skipped (--no-verify)")
    else:
        verdict = "passed" if verification.passed else "FAILED"
        table.add_row("verification", f"{verdict} with {verification.runtime}")
        table.add_row("greedy tokens", f"{verification.matched}/{verification.steps} matched PyTorch over {len(verification.prompts)} prompts")
        if verification.fidelity:
            f = verification.fidelity
            table.add_row(
                "runtime fidelity",
                f"against PyTorch on the artifact's own weights: max |dlogit| {f.max_abs_diff:.2e} (tolerance {f.tolerance:.2e}), "
                f"rms {f.rms_diff:.2e} (tolerance {f.rms_tolerance:.2e}), from rounding noise {f.rms_rounding_noise:.2e}; "
                f"top-1 {f.decisive_top1_agreement:.3f} at {f.decisive_positions} decisive positions; "
                f"{f.greedy_divergences_at_ties}/{f.greedy_divergences} greedy divergences at ties",
            )
        elif verification.logits:
            lf = verification.logits
            table.add_row(
                "logits",
                f"max |d| {lf.max_abs_diff:.2e}, correlation {lf.mean_correlation:.5f}, top-1 {lf.top1_agreement:.3f}, "
                f"top-5 {lf.top5_overlap:.3f} ({lf.positions} positions)",
            )
        if verification.cost:
            c = verification.cost
            table.add_row(
                "quantization cost",
                f"against the original weights: KL {c.mean_kl:.2e} nats/token (max {c.max_kl:.2e}), top-1 {c.top1_agreement:.3f} "
                f"over {c.positions} positions; perplexity {c.perplexity_artifact:.4g} vs {c.perplexity_original:.4g} "
                f"(x{c.perplexity_ratio:.4f}) on {c.text_tokens} tokens of sdkgen's text",
            )
        for note in verification.notes:
            table.add_row("note", note)
    tables = [table]
    if result.plan is not None:
        tables.append(budget_table(job.spec, result.actual_budget, job.runtime.memory_for(result.plan.profile.platform).overhead_note, result.plan.profile))
    return tables


def project_tables(result) -> list[Table]:
    """Tables for a generated project: where it is, the model's delivery, then the conversion."""
    generation = result.generation
    os_name = TARGET_OSES.get(result.target_os, result.target_os)
    table = Table(title=f"Generated {os_name} project ({generation.project_format})", show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    table.add_row("project", str(result.path))
    table.add_row("app id", str(generation.options.app_id))
    table.add_row("engine", generation.engine.display_name)
    delivery = {
        "bundled": "bundled in the app",
        "download": f"downloaded on first run from {generation.options.model_url}",
        "sideload": "pushed by the developer (see the project README); the file is in model/",
    }[generation.delivery]
    table.add_row("model delivery", delivery)
    table.add_row("files", f"{len(result.files)} written; sdkgen-report.json beside them")
    conversion = conversion_tables(result.conversion, result.path)
    return [table, *conversion]


def print_tables(tables: Iterable[Table], console: Console | None = None) -> None:
    console = console or Console()
    for table in tables:
        console.print(table)


def doctor_tables(diagnosis) -> list[Table]:
    runtimes = Table(title="Runtimes on this machine", title_justify="left")
    for column in ("runtime", "status", "versions"):
        runtimes.add_column(column)
    for status in diagnosis.runtimes:
        state = "[green]ready[/green]" if status.ready else f"[red]missing[/red]: {status.missing}"
        versions = ", ".join(f"{k} {v}" for k, v in status.versions.items())
        runtimes.add_row(f"{status.key} ({status.name})", state, versions)
    mlc = diagnosis.mlc
    builds = Table(title="MLC LLM phone builds (`mlc_llm package` in the generated projects)", title_justify="left")
    for column in ("for", "needs", "found", "how"):
        builds.add_column(column)
    for requirement in mlc.requirements:
        found = f"[green]{requirement.found}[/green]" if requirement.ok else "[red]missing[/red]"
        builds.add_row(requirement.platform, requirement.name, found, "" if requirement.ok else requirement.how)
    return [runtimes, builds]
