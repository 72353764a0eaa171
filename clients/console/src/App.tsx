/**
 * Routes. Every view's defining state (experiment, window, metric, segment)
 * is in the URL, so any page is a permalink; Lotty answers every
 * /console/... path with the app, so deep links survive a reload.
 */
import { lazy, Suspense, useEffect, useState, type ReactNode } from "react";
import { Navigate, Route, Routes, useLocation } from "react-router";
import { Layout } from "./components/Layout.js";
import { Loading } from "./components/Status.js";
import { readStoredKey, useSession } from "./api/session.js";
import { SignInPage } from "./pages/SignInPage.js";
import { ExperimentsPage } from "./pages/ExperimentsPage.js";
import { NotFoundPage } from "./pages/NotFoundPage.js";

// Pages with charts and forms load on first use, keeping the first page small.
const ExperimentPage = lazy(() => import("./pages/ExperimentPage.js"));
const ExperimentFormPage = lazy(() => import("./pages/ExperimentFormPage.js"));
const ResultsPage = lazy(() => import("./pages/ResultsPage.js"));
const FlagsPage = lazy(() => import("./pages/FlagsPage.js"));
const FlagFormPage = lazy(() => import("./pages/FlagFormPage.js"));
const CatalogPage = lazy(() => import("./pages/CatalogPage.js"));
const CatalogFormPage = lazy(() => import("./pages/CatalogFormPage.js"));
const TriggersPage = lazy(() => import("./pages/TriggersPage.js"));
const DeliveriesPage = lazy(() => import("./pages/DeliveriesPage.js"));
const DataQualityPage = lazy(() => import("./pages/DataQualityPage.js"));
const LearningsPage = lazy(() => import("./pages/LearningsPage.js"));
const LearningPage = lazy(() => import("./pages/LearningPage.js"));
const MetaAnalysisPage = lazy(() => import("./pages/MetaAnalysisPage.js"));
const SavedSegmentsPage = lazy(() => import("./pages/SavedSegmentsPage.js"));
const SavedSegmentFormPage = lazy(() => import("./pages/SavedSegmentFormPage.js"));

/** Restores a session from the stored key on reload, or sends to sign-in. */
function RequireSession(props: { children: ReactNode }) {
  const { session, signIn } = useSession();
  const location = useLocation();
  const [restoring, setRestoring] = useState(
    () => session === undefined && readStoredKey() !== undefined,
  );
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    const key = readStoredKey();
    if (!restoring || key === undefined) return;
    signIn(key).then(
      () => setRestoring(false),
      () => {
        setFailed(true);
        setRestoring(false);
      },
    );
  }, [restoring, signIn]);
  if (restoring) return <Loading what="your session" />;
  if (session === undefined) {
    const next = location.pathname + location.search;
    return (
      <Navigate
        to={`/sign-in?next=${encodeURIComponent(next)}${failed ? "&expired=1" : ""}`}
        replace
      />
    );
  }
  return <>{props.children}</>;
}

export function App() {
  return (
    <Routes>
      <Route path="/sign-in" element={<SignInPage />} />
      <Route
        element={
          <RequireSession>
            <Suspense fallback={<Loading what="the page" />}>
              <Layout />
            </Suspense>
          </RequireSession>
        }
      >
        <Route index element={<Navigate to="/experiments" replace />} />
        <Route path="/experiments" element={<ExperimentsPage />} />
        <Route path="/experiments/new" element={<ExperimentFormPage />} />
        <Route path="/experiments/:id" element={<ExperimentPage />} />
        <Route path="/experiments/:id/edit" element={<ExperimentFormPage />} />
        <Route path="/experiments/:id/results" element={<ResultsPage />} />
        <Route path="/flags" element={<FlagsPage />} />
        <Route path="/flags/new" element={<FlagFormPage />} />
        <Route path="/flags/:key" element={<FlagFormPage />} />
        <Route path="/catalog" element={<CatalogPage />} />
        <Route path="/catalog/:kind/new" element={<CatalogFormPage />} />
        <Route path="/catalog/:kind/:id" element={<CatalogFormPage />} />
        <Route path="/saved-segments" element={<SavedSegmentsPage />} />
        <Route path="/saved-segments/new" element={<SavedSegmentFormPage />} />
        <Route path="/saved-segments/:key" element={<SavedSegmentFormPage />} />
        <Route path="/triggers" element={<TriggersPage />} />
        <Route path="/notifications" element={<DeliveriesPage />} />
        <Route path="/data-quality" element={<DataQualityPage />} />
        <Route path="/learnings" element={<LearningsPage />} />
        <Route path="/learnings/meta" element={<MetaAnalysisPage />} />
        <Route path="/learnings/:experimentId" element={<LearningPage />} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}
