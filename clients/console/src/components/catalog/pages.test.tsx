import { describe, expect, it } from "vitest";
import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter, Route, Routes } from "react-router";
import type { ReactNode } from "react";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { TransportProvider } from "@connectrpc/connect-query";
import { Role, UserSchema } from "../../../../../gen/lotty/access/v1/access_pb.js";
import { FlagService, FlagType } from "../../../../../gen/lotty/flags/v1/flags_pb.js";
import { ExperimentService } from "../../../../../gen/lotty/experiments/v1/experiments_pb.js";
import { SessionProvider } from "../../api/session.js";
import FlagFormPage from "../../pages/FlagFormPage.js";
import FlagsPage from "../../pages/FlagsPage.js";
import DeliveriesPage from "../../pages/DeliveriesPage.js";

function renderAt(
  path: string,
  roles: Role[],
  transport: ReturnType<typeof createRouterTransport>,
  routes: ReactNode,
) {
  const user = create(UserSchema, { id: "u1", displayName: "Test", roles });
  return render(
    <SessionProvider initial={{ user, apiKeyId: "key-1" }}>
      <TransportProvider transport={transport}>
        <MemoryRouter initialEntries={[path]}>
          <Routes>{routes}</Routes>
        </MemoryRouter>
      </TransportProvider>
    </SessionProvider>,
  );
}

describe("FlagFormPage", () => {
  it("shows the server's field errors at the fields and in an alert", async () => {
    let sent: { key: string; type: FlagType } | undefined;
    const transport = createRouterTransport(({ service }) => {
      service(FlagService, {
        createFlag(req) {
          sent = { key: req.key, type: req.type };
          throw new ConnectError("key: must start with a lower-case letter", Code.InvalidArgument);
        },
      });
    });
    renderAt(
      "/flags/new",
      [Role.EXPERIMENTER],
      transport,
      <Route path="/flags/new" element={<FlagFormPage />} />,
    );
    const user = userEvent.setup();
    await user.type(screen.getByLabelText("Key"), "Bad_Key");
    await user.clear(screen.getByLabelText("Default value"));
    await user.type(screen.getByLabelText("Default value"), "true");
    await user.click(screen.getByRole("button", { name: "Create flag" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("must start with a lower-case letter");
    expect(sent).toEqual({ key: "Bad_Key", type: FlagType.BOOL });
    const key = screen.getByLabelText("Key");
    expect(key.getAttribute("aria-invalid")).toBe("true");
    const describedBy = key.getAttribute("aria-describedby") ?? "";
    expect(describedBy.split(" ").map((id) => document.getElementById(id)?.textContent)).toContain(
      "key: must start with a lower-case letter",
    );
  });

  it("is read-only for a viewer", async () => {
    const transport = createRouterTransport(({ service }) => {
      service(FlagService, {
        getFlag: (req) => ({
          flag: {
            key: req.key,
            type: FlagType.NUMBER,
            defaultValue: { kind: { case: "numberValue", value: 3 } },
          },
        }),
      });
      service(ExperimentService, { listExperiments: () => ({ experiments: [] }) });
    });
    renderAt(
      "/flags/limit",
      [Role.VIEWER],
      transport,
      <Route path="/flags/:key" element={<FlagFormPage />} />,
    );
    const value = await screen.findByLabelText("Default value");
    expect((value as HTMLInputElement).value).toBe("3");
    expect(value.matches(":disabled")).toBe(true);
    expect(screen.queryByRole("button", { name: "Save flag" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Archive flag" })).toBeNull();
  });
});

describe("FlagsPage", () => {
  it("lists flags with the running experiment found in one call", async () => {
    let experimentCalls = 0;
    const transport = createRouterTransport(({ service }) => {
      service(FlagService, {
        listFlags: () => ({
          flags: [
            {
              key: "banner",
              type: FlagType.BOOL,
              defaultValue: { kind: { case: "boolValue", value: false } },
            },
            {
              key: "color",
              type: FlagType.STRING,
              defaultValue: { kind: { case: "stringValue", value: "blue" } },
            },
          ],
        }),
      });
      service(ExperimentService, {
        listExperiments: () => {
          experimentCalls++;
          return { experiments: [{ id: "e1", name: "Banner test", flagKey: "banner" }] };
        },
      });
    });
    renderAt("/flags", [Role.ADMIN], transport, <Route path="/flags" element={<FlagsPage />} />);
    const rows = await screen.findAllByRole("row");
    expect(rows).toHaveLength(3);
    expect(within(rows[1]!).getByRole("link", { name: "Banner test" }).getAttribute("href")).toBe(
      "/experiments/e1",
    );
    expect(within(rows[2]!).getByText('"blue"')).toBeTruthy();
    expect(screen.getByRole("link", { name: "New flag" })).toBeTruthy();
    expect(experimentCalls).toBe(1);
  });

  it("shows an empty sentence and no New flag link for a viewer", async () => {
    const transport = createRouterTransport(({ service }) => {
      service(FlagService, { listFlags: () => ({ flags: [] }) });
      service(ExperimentService, { listExperiments: () => ({ experiments: [] }) });
    });
    renderAt("/flags", [Role.VIEWER], transport, <Route path="/flags" element={<FlagsPage />} />);
    expect(await screen.findByText(/No flags yet/)).toBeTruthy();
    expect(screen.queryByRole("link", { name: "New flag" })).toBeNull();
  });
});

describe("DeliveriesPage", () => {
  it("explains instead of calling for roles that may not list notifications", () => {
    const transport = createRouterTransport(() => {});
    renderAt(
      "/notifications",
      [Role.VIEWER],
      transport,
      <Route path="/notifications" element={<DeliveriesPage />} />,
    );
    expect(screen.getByRole("heading", { level: 1, name: "Notifications" })).toBeTruthy();
    expect(screen.getByText(/visible to experimenters and admins only/)).toBeTruthy();
  });
});
