using Microsoft.ML;
using Microsoft.ML.Data;

namespace MLNet.MoE;

/// <summary>Input-column checks with messages that name the column, the expected type and the type found.</summary>
internal static class SchemaChecks
{
    /// <summary>The shape of a schema (ML.NET keeps <c>SchemaShape.Create</c> internal; the tests use this).</summary>
    public static SchemaShape ShapeOf(DataViewSchema schema) => SchemaShape.Create(schema);

    public static DataViewSchema.Column RequireText(DataViewSchema schema, string columnName, string role)
    {
        var column = schema.GetColumnOrNull(columnName)
            ?? throw new ArgumentOutOfRangeException(role, $"{role} column '{columnName}' was not found in the input schema (columns: {string.Join(", ", schema.Select(c => c.Name))}).");
        if (column.Type is not TextDataViewType)
            throw new ArgumentOutOfRangeException(role, $"{role} column '{columnName}' must be of type Text (string), but is {column.Type}.");
        return column;
    }

    public static DataViewSchema.Column RequireTokenIds(DataViewSchema schema, string columnName, string role)
    {
        var column = schema.GetColumnOrNull(columnName)
            ?? throw new ArgumentOutOfRangeException(role, $"{role} column '{columnName}' was not found in the input schema (columns: {string.Join(", ", schema.Select(c => c.Name))}).");
        if (column.Type is not VectorDataViewType { ItemType: NumberDataViewType number } || number.RawType != typeof(int))
            throw new ArgumentOutOfRangeException(role, $"{role} column '{columnName}' must be a vector of Int32 token ids (from TokenizeForMoe), but is {column.Type}.");
        return column;
    }

    public static SchemaShape.Column RequireText(SchemaShape schema, string columnName, string role)
    {
        if (!schema.TryFindColumn(columnName, out var column))
            throw new ArgumentOutOfRangeException(role, $"{role} column '{columnName}' was not found in the input schema.");
        if (column.Kind != SchemaShape.Column.VectorKind.Scalar || column.ItemType is not TextDataViewType)
            throw new ArgumentOutOfRangeException(role, $"{role} column '{columnName}' must be of type Text (string), but is {Describe(column)}.");
        return column;
    }

    public static SchemaShape.Column RequireTokenIds(SchemaShape schema, string columnName, string role)
    {
        if (!schema.TryFindColumn(columnName, out var column))
            throw new ArgumentOutOfRangeException(role, $"{role} column '{columnName}' was not found in the input schema.");
        if (column.Kind == SchemaShape.Column.VectorKind.Scalar || column.ItemType is not NumberDataViewType number || number.RawType != typeof(int))
            throw new ArgumentOutOfRangeException(role, $"{role} column '{columnName}' must be a vector of Int32 token ids (from TokenizeForMoe), but is {Describe(column)}.");
        return column;
    }

    private static string Describe(SchemaShape.Column column) => column.Kind switch
    {
        SchemaShape.Column.VectorKind.Scalar => column.ItemType?.ToString() ?? "unknown",
        _ => $"Vector<{column.ItemType}>",
    };
}
