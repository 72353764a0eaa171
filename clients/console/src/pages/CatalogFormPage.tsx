/**
 * /catalog/:kind/new and /catalog/:kind/:id (kind = event-types | metrics):
 * create and edit event types and metrics. Roles that may not write, built-in
 * `exposure` and archived entries get the form read-only.
 */
import { Link, useParams } from "react-router";
import { isCatalogKind } from "../api/catalog.js";
import { EventTypeForm, ExistingEventType } from "../components/catalog/EventTypeForm.js";
import { ExistingMetric, MetricForm } from "../components/catalog/MetricForm.js";

export default function CatalogFormPage() {
  const { kind, id } = useParams();
  if (!isCatalogKind(kind)) {
    return (
      <>
        <h1>Catalog</h1>
        <p className="banner warn">
          There is no catalog section “{kind}”. <Link to="/catalog">Back to the catalog</Link>
        </p>
      </>
    );
  }
  if (kind === "event-types")
    return id === undefined ? <EventTypeForm /> : <ExistingEventType typeKey={id} />;
  return id === undefined ? <MetricForm /> : <ExistingMetric metricKey={id} />;
}
