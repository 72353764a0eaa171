/**
 * The state every record editor (flags, event types, metrics) keeps: the form,
 * the notice carried over a navigation, server field errors, and the save and
 * archive flows that report into them.
 */
import { useState, type FormEvent } from "react";
import { useLocation, useNavigate } from "react-router";
import { createConnectQueryKey } from "@connectrpc/connect-query";
import { useQueryClient } from "@tanstack/react-query";
import type { DescService } from "@bufbuild/protobuf";
import { useUser } from "../../api/session.js";
import { may } from "../../api/permissions.js";
import { describeError, type FieldError } from "../../api/errors.js";
import { formErrors } from "../../api/catalog.js";

/** Field errors and a general message, as shown by the error summary. */
export function useErrorState() {
  const [errors, setErrors] = useState<FieldError[]>([]);
  const [general, setGeneral] = useState<string | undefined>();
  return {
    errors,
    general,
    clear() {
      setErrors([]);
      setGeneral(undefined);
    },
    set(found: FieldError[]) {
      setErrors(found);
      setGeneral(undefined);
    },
    /** Field errors when the server named fields, else the error in words. */
    fail(e: unknown) {
      const found = formErrors(e);
      setErrors(found);
      setGeneral(found.length === 0 ? describeError(e) : undefined);
    },
    /** The error in words only. */
    failGeneral(e: unknown) {
      setErrors([]);
      setGeneral(describeError(e));
    },
  };
}

/** "event type" → "Event type". */
export function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A key that changes whenever the stored record does, so its editor re-mounts with saved values. */
export function stamp(ts: { seconds: bigint; nanos: number } | undefined) {
  return `${ts?.seconds ?? 0}:${ts?.nanos ?? 0}`;
}

export type CatalogFormState = ReturnType<typeof useCatalogForm>;

/** What archiving does, and how; the panel shows when the role may archive. */
export interface ArchiveSpec {
  explanation: string;
  run(key: string): Promise<unknown>;
  /** Where to go afterwards; this page unless told. */
  to?(key: string): string;
  /** Clear the notice before archiving (flags do). */
  clearsNotice?: boolean;
  /** Report a failure in words only, not at fields (flags do). */
  failsInWords?: boolean;
}

export function useCatalogForm<F extends object>(o: {
  /** The record's noun, lower-case ("event type"): notices say "Event type <key> created.". */
  what: string;
  /** The service whose queries a change invalidates. */
  service: DescService;
  /** Who may what: Create<rpc>, Update<rpc> and Archive<rpc> of `policy`. */
  policy: string;
  rpc: string;
  /** The stored record; undefined while creating. Archived and built-in ones are read-only. */
  record: { archived: boolean; builtin?: boolean } | undefined;
  initial: () => F;
}) {
  const { what, service, record } = o;
  const { user } = useUser();
  const navigate = useNavigate();
  const location = useLocation();
  const queryClient = useQueryClient();
  const [form, setForm] = useState<F>(o.initial);
  const [notice, setNotice] = useState<string | undefined>(
    (location.state as { notice?: string } | null)?.notice,
  );
  const errs = useErrorState();
  const What = capitalized(what);
  const isNew = record === undefined;
  const mayWrite = may(user.roles, o.policy, `${isNew ? "Create" : "Update"}${o.rpc}`);
  const readOnly = record !== undefined && (record.archived || record.builtin === true);
  const canEdit = mayWrite && !readOnly;
  const canArchive = !isNew && !readOnly && may(user.roles, o.policy, `Archive${o.rpc}`);

  const invalidate = () =>
    queryClient.invalidateQueries({
      queryKey: createConnectQueryKey({ schema: service, cardinality: undefined }),
    });

  function set<K extends keyof F>(field: K, value: F[K]) {
    setForm((f) => ({ ...f, [field]: value }));
  }

  /**
   * The form's submit handler: builds the request from the form (field errors
   * stop it), then creates or updates. A new record's page opens with
   * "<What> <key> created."; an update shows "<What> saved." in place.
   */
  function onSubmit<B>(s: {
    build(): B | { errors: FieldError[] };
    /** Creates and answers the new key. */
    create(built: B): Promise<string>;
    path(key: string): string;
    update(built: B): Promise<unknown>;
  }) {
    return async (event: FormEvent) => {
      event.preventDefault();
      setNotice(undefined);
      errs.clear();
      const built = s.build();
      if (typeof built === "object" && built !== null && "errors" in built) {
        errs.set(built.errors);
        return;
      }
      try {
        if (isNew) {
          const key = await s.create(built);
          await invalidate();
          void navigate(s.path(key), { state: { notice: `${What} ${key} created.` } });
        } else {
          await s.update(built);
          setNotice(`${What} saved.`);
          await invalidate();
        }
      } catch (e) {
        errs.fail(e);
      }
    };
  }

  /** The archive panel's props: archives, then reloads with "<What> <key> archived.". */
  function archivePanel(key: string, a: ArchiveSpec) {
    return {
      what,
      itemKey: key,
      explanation: a.explanation,
      async onArchive() {
        if (a.clearsNotice === true) setNotice(undefined);
        errs.clear();
        try {
          await a.run(key);
          void navigate(a.to?.(key) ?? location.pathname, {
            replace: true,
            state: { notice: `${What} ${key} archived.` },
          });
          await invalidate();
        } catch (e) {
          if (a.failsInWords === true) errs.failGeneral(e);
          else errs.fail(e);
        }
      },
    };
  }

  return {
    what,
    What,
    mayWrite,
    canEdit,
    canArchive,
    form,
    setForm,
    set,
    notice,
    errs,
    onSubmit,
    archivePanel,
  };
}
