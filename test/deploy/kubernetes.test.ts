/**
 * The Kubernetes manifests (deploy/kubernetes): rendered with
 * `kubectl kustomize` as an operator would, then checked for the fields that
 * matter — one image and the right role per Deployment, probes on /health
 * and /ready, resources, the HPA and disruption budgets pointing at real
 * pods, the ServiceMonitor at a real port, secrets by reference only, and
 * the example overlay's replicated streams and tracing settings.
 */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "@jest/globals";
import { parseAllDocuments } from "yaml";
import { loadConfig } from "../../src/platform/config.js";

type Doc = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are checked field by field
  spec?: any;
  data?: Record<string, string>;
};

function render(dir: string): Doc[] {
  let out: string;
  try {
    out = execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8" });
  } catch (error) {
    throw new Error(
      `kubectl kustomize ${dir} failed (needs kubectl 1.21 or later on the PATH, for kustomize v4+): ${String(error)}`,
    );
  }
  return parseAllDocuments(out).map((d) => d.toJS() as Doc);
}

const byKind = (docs: Doc[], kind: string) => docs.filter((d) => d.kind === kind);
const named = (docs: Doc[], kind: string, name: string) => {
  const doc = docs.find((d) => d.kind === kind && d.metadata.name === name);
  if (doc === undefined) throw new Error(`no ${kind} ${name}`);
  return doc;
};
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

describe.each([
  ["base", "deploy/kubernetes/base"],
  ["example overlay", "deploy/kubernetes/overlays/example"],
])("the Kubernetes manifests (%s)", (variant, dir) => {
  const docs = render(dir);
  const api = named(docs, "Deployment", "lotty-api");
  const workers = named(docs, "Deployment", "lotty-workers");
  const container = (d: Doc) => d.spec.template.spec.containers[0];
  const env = (d: Doc) =>
    Object.fromEntries(
      (container(d).env as { name: string; value?: string; valueFrom?: unknown }[]).map((e) => [
        e.name,
        e,
      ]),
    );

  it("runs api and workers from one image with their roles", () => {
    expect(container(api).image).toBe(container(workers).image);
    expect(env(api).LOTTY_ROLES?.value).toBe("api");
    expect(env(workers).LOTTY_ROLES?.value).toBe("workers");
    for (const d of [api, workers]) {
      expect(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels)).toBe(true);
    }
  });

  it("probes /health for liveness and startup and /ready for readiness, on the served port", () => {
    for (const d of [api, workers]) {
      const c = container(d);
      const port = c.ports[0];
      expect(port.containerPort).toBe(8080);
      expect(env(d).PORT?.value).toBe("8080");
      expect(c.livenessProbe.httpGet).toEqual({ path: "/health", port: port.name });
      expect(c.startupProbe.httpGet).toEqual({ path: "/health", port: port.name });
      expect(c.readinessProbe.httpGet).toEqual({ path: "/ready", port: port.name });
    }
  });

  it("requests resources, runs unprivileged and read-only", () => {
    for (const d of [api, workers]) {
      const c = container(d);
      expect(c.resources.requests.cpu).toBeDefined();
      expect(c.resources.requests.memory).toBeDefined();
      expect(c.resources.limits.memory).toBeDefined();
      expect(d.spec.template.spec.securityContext.runAsNonRoot).toBe(true);
      expect(c.securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ["ALL"] },
      });
      // A graceful stop (up to 10 s for in-flight calls) fits the grace period.
      expect(d.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThan(10);
    }
  });

  it("takes secrets only by reference and shared settings from the generated ConfigMap", () => {
    expect(byKind(docs, "Secret")).toEqual([]);
    for (const d of [api, workers]) {
      const e = env(d);
      for (const name of ["DATABASE_URL", "LOTTY_DECISION_SECRET"]) {
        expect(e[name]?.valueFrom).toEqual({ secretKeyRef: { name: "lotty-secrets", key: name } });
      }
      const configName = container(d).envFrom[0].configMapRef.name as string;
      const config = named(docs, "ConfigMap", configName);
      expect(config.data?.NATS_URL).toMatch(/^nats:\/\//);
    }
    expect(env(api).LOTTY_BOOTSTRAP_ADMIN_KEY?.valueFrom).toEqual({
      secretKeyRef: { name: "lotty-secrets", key: "LOTTY_BOOTSTRAP_ADMIN_KEY" },
    });
  });

  it("scales the api on CPU and budgets disruptions for both roles", () => {
    const hpa = named(docs, "HorizontalPodAutoscaler", "lotty-api");
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: "lotty-api",
    });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
    expect(hpa.spec.metrics[0].resource.name).toBe("cpu");
    const pdbs = byKind(docs, "PodDisruptionBudget");
    for (const d of [api, workers]) {
      const covering = pdbs.filter((p) =>
        matches(p.spec.selector.matchLabels, d.spec.template.metadata.labels),
      );
      expect(covering).toHaveLength(1);
    }
  });

  it("exposes the api and lets Prometheus scrape both roles", () => {
    const service = named(docs, "Service", "lotty-api");
    expect(matches(service.spec.selector, api.spec.template.metadata.labels)).toBe(true);
    expect(service.spec.ports[0].targetPort).toBe(container(api).ports[0].name);
    const monitor = named(docs, "ServiceMonitor", "lotty");
    const scraped = byKind(docs, "Service").filter((s) =>
      matches(monitor.spec.selector.matchLabels, s.metadata.labels ?? {}),
    );
    expect(scraped.map((s) => s.metadata.name).sort()).toEqual(["lotty-api", "lotty-workers"]);
    for (const s of scraped) {
      expect(s.spec.ports.map((p: { name: string }) => p.name)).toContain(
        monitor.spec.endpoints[0].port,
      );
    }
    expect(monitor.spec.endpoints[0].path).toBe("/metrics");
  });

  if (variant === "example overlay") {
    it("puts everything in its namespace, pins the image, replicates the streams three times and traces", () => {
      for (const d of docs.filter((d) => d.kind !== "Namespace")) {
        expect(d.metadata.namespace).toBe("lotty");
      }
      expect(container(api).image).toBe("registry.example.com/lotty:0.1.0");
      const configName = container(api).envFrom[0].configMapRef.name as string;
      const config = named(docs, "ConfigMap", configName);
      expect(config.data?.LOTTY_NATS_REPLICAS).toBe("3");
      expect(config.data?.NATS_URL?.split(",")).toHaveLength(3);
      // Settings Lotty's own configuration accepts, with tracing on.
      const loaded = loadConfig({ ...config.data });
      expect(loaded.ok && loaded.config.tracing?.description).toBe(
        "otlp (http/protobuf) to http://otel-collector.observability:4318/v1/traces",
      );
      expect(named(docs, "HorizontalPodAutoscaler", "lotty-api").spec.minReplicas).toBe(3);
    });
  }
});
