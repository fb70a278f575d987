"""cluster.yaml and the KubeRay RayJob: valid for Ray's own schema, and runnable as written."""

import shlex

import ray
import yaml
from ray.autoscaler._private.util import validate_config

from tests.test_cli import ROOT
from zipfit_ray.cli import build_parser, config_from_args


def test_cluster_yaml_passes_rays_validator():
    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    validate_config(config)  # raises on anything Ray's launcher would reject
    workers = config["available_node_types"]["cpu_worker"]
    assert workers["min_workers"] == 0 < workers["max_workers"]  # autoscaling
    assert workers["node_config"]["InstanceType"].startswith("c")  # compute-optimized
    setup = " ".join(config["setup_commands"])
    assert "zipfit-ray[s3]" in setup
    assert f"ray[default]=={ray.__version__}" in setup  # the Ray that submits is the Ray that runs


def test_rayjob_runs_jobs_select_with_valid_arguments():
    manifest = yaml.safe_load((ROOT / "deploy" / "rayjob.yaml").read_text())
    assert (manifest["apiVersion"], manifest["kind"]) == ("ray.io/v1", "RayJob")
    command = shlex.split(manifest["spec"]["entrypoint"])
    assert command[:2] == ["python", "jobs/zipfit_select.py"]
    assert (ROOT / command[1]).exists()
    config = config_from_args(build_parser().parse_args(command[2:]))
    assert config.reading.pool[0].startswith("s3://") and config.selecting.rule.value > 0
    cluster = manifest["spec"]["rayClusterSpec"]
    assert cluster["rayVersion"] == ray.__version__
    images = [cluster["headGroupSpec"]["template"]["spec"]["containers"][0]["image"]] + [
        group["template"]["spec"]["containers"][0]["image"] for group in cluster["workerGroupSpecs"]
    ]
    assert all(image.startswith(f"rayproject/ray:{ray.__version__}") for image in images)
    runtime_env = yaml.safe_load(manifest["spec"]["runtimeEnvYAML"])
    assert runtime_env["working_dir"].endswith(".zip")
