/**
 * Who is signed in. The API key lives in sessionStorage only (never in a
 * URL, a log or localStorage): closing the tab or signing out forgets it.
 * Every call carries it as a Bearer token through one interceptor.
 */
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { TransportProvider } from "@connectrpc/connect-query";
import type { Transport } from "@connectrpc/connect";
import { AccessService, type User } from "../../../../gen/lotty/access/v1/access_pb.js";

const KEY_STORAGE = "lotty.apiKey";

export interface Session {
  user: User;
  apiKeyId: string;
}

interface SessionState {
  session: Session | undefined;
  transport: Transport;
  signIn(apiKey: string): Promise<void>;
  signOut(): void;
}

const SessionContext = createContext<SessionState | undefined>(undefined);

export function readStoredKey(): string | undefined {
  try {
    return sessionStorage.getItem(KEY_STORAGE) ?? undefined;
  } catch {
    return undefined;
  }
}

/** A Connect transport to the Lotty that served the page, with the key as Bearer token. */
export function consoleTransport(getKey: () => string | undefined, baseUrl = location.origin) {
  const auth: Interceptor = (next) => (req) => {
    const key = getKey();
    if (key !== undefined) req.header.set("authorization", `Bearer ${key}`);
    return next(req);
  };
  return createConnectTransport({ baseUrl, interceptors: [auth] });
}

export async function whoIs(transport: Transport): Promise<Session> {
  const response = await createClient(AccessService, transport).getCurrentUser({});
  if (response.user === undefined) throw new ConnectError("no user in the answer", Code.Internal);
  return { user: response.user, apiKeyId: response.apiKeyId };
}

export function SessionProvider(props: { initial?: Session; children: ReactNode }) {
  const [session, setSession] = useState<Session | undefined>(props.initial);
  const [key, setKey] = useState<string | undefined>(() => readStoredKey());
  const transport = useMemo(() => consoleTransport(() => key), [key]);
  const signOut = useCallback(() => {
    sessionStorage.removeItem(KEY_STORAGE);
    setKey(undefined);
    setSession(undefined);
  }, []);

  const queryClient = useMemo(() => {
    // A key revoked while the page is open: back to sign-in, not a page of errors.
    const onError = (error: unknown) => {
      if (ConnectError.from(error).code === Code.Unauthenticated) signOut();
    };
    return new QueryClient({
      queryCache: new QueryCache({ onError }),
      mutationCache: new MutationCache({ onError }),
      defaultOptions: {
        queries: {
          staleTime: 5_000,
          // A denied or invalid call will not get better by retrying.
          retry: (count, error) =>
            count < 2 &&
            error instanceof ConnectError &&
            (error.code === Code.Unavailable || error.code === Code.ResourceExhausted),
        },
      },
    });
    // A new client per key: nothing read under one key is shown under another.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, signOut]);

  const signIn = useCallback(async (apiKey: string) => {
    const trimmed = apiKey.trim();
    const probe = consoleTransport(() => trimmed);
    const who = await whoIs(probe);
    sessionStorage.setItem(KEY_STORAGE, trimmed);
    setKey(trimmed);
    setSession(who);
  }, []);

  const value = useMemo(
    () => ({ session, transport, signIn, signOut }),
    [session, transport, signIn, signOut],
  );
  return (
    <SessionContext.Provider value={value}>
      <TransportProvider transport={transport}>
        <QueryClientProvider client={queryClient}>{props.children}</QueryClientProvider>
      </TransportProvider>
    </SessionContext.Provider>
  );
}

export function useSession(): SessionState {
  const value = useContext(SessionContext);
  if (value === undefined) throw new Error("useSession outside SessionProvider");
  return value;
}

/** The signed-in user; only for pages behind the sign-in guard. */
export function useUser(): Session {
  const { session } = useSession();
  if (session === undefined) throw new Error("useUser without a session");
  return session;
}
